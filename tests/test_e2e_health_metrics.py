"""Health and metrics of the running bot: the heartbeat follows the gateway, /metrics counts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from app.main import watch_shards
from app.metrics import PrometheusTelemetry
from app.settings import Settings
from services.health import HEARTBEAT_FILE, read_health
from services.llm import ChatCompletionsModel, JsonRequest, LlmError, ModelServer
from services.tts import SpeechCache, SpeechError, SpeechSynthesizer
from tests.azure_brain import Brain
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.harness import (
    ALICE,
    AZURE_KEY,
    BRUNO,
    ELEVENLABS_KEY,
    ELEVENLABS_VOICE,
    GENERAL,
    PROJECT_ROOT,
    eventually,
    post_many,
    running_bot,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def health_command(data_dir: Path) -> int:
    """`python -m app.health`, as Docker's HEALTHCHECK runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.health",
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(PROJECT_ROOT),
            "DATA_DIR": str(data_dir),
        },
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_health_turns_bad_when_the_gateway_goes_down_and_good_after_the_reconnect(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    settings = replace(settings, heartbeat_seconds=0.1)
    heartbeat = settings.data_dir / HEARTBEAT_FILE

    async def healthy() -> bool:
        return read_health(heartbeat).ok

    async def unhealthy() -> bool:
        return not read_health(heartbeat).ok

    async with running_bot(fake_discord, settings):
        await eventually(healthy)
        assert await health_command(settings.data_dir) == 0
        resumes = fake_discord.resume_count
        await fake_discord.gateway_down()
        try:
            await eventually(unhealthy)
            assert await health_command(settings.data_dir) == 1
        finally:
            fake_discord.gateway_up()
        await eventually(healthy, timeout=20)  # discord.py's backoff: a few seconds at most
        assert fake_discord.resume_count == resumes + 1
        first = json.loads(heartbeat.read_text())["at"]

        async def beating() -> bool:
            return await healthy() and json.loads(heartbeat.read_text())["at"] != first

        await eventually(beating)  # refreshed while connected
    assert not read_health(heartbeat).ok  # stopped: not healthy any more


async def test_one_shard_down_of_two_makes_the_process_unhealthy_and_names_it(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    settings = replace(settings, heartbeat_seconds=0.1, shard_count=2)
    fake_discord.session_start_limit = {**fake_discord.session_start_limit, "max_concurrency": 2}
    heartbeat = settings.data_dir / HEARTBEAT_FILE

    async def healthy() -> bool:
        return read_health(heartbeat).ok

    async def shard_1_down() -> bool:
        return read_health(heartbeat).reason.startswith("shard(s) 1 disconnected from Discord")

    async with running_bot(fake_discord, settings):
        await eventually(healthy)
        assert sorted(fake_discord.ready_shards()) == [(0, 2), (1, 2)]
        await fake_discord.shard_down(1)
        try:
            await eventually(shard_1_down)
            assert [shard for shard, _ in fake_discord.ready_shards()] == [0]  # 0 goes on
            assert await health_command(settings.data_dir) == 1
        finally:
            fake_discord.shard_up(1)
        await eventually(healthy, timeout=20)  # discord.py's backoff: a few seconds at most


async def test_the_watchdog_reconnects_a_stuck_shard_alone_and_the_other_keeps_its_session(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    """Shard 1's RESUME is never answered: discord.py sees a live socket and waits for ever.
    The watchdog reconnects that shard alone (a clean close, then a new session); shard 0
    keeps its session (same id, no IDENTIFY) and the process is not stopped."""
    settings = replace(settings, heartbeat_seconds=0.1, shard_count=2)
    fake_discord.session_start_limit = {**fake_discord.session_start_limit, "max_concurrency": 2}
    heartbeat = settings.data_dir / HEARTBEAT_FILE

    async def healthy() -> bool:
        return read_health(heartbeat).ok

    async def shard_1_down() -> bool:
        return read_health(heartbeat).reason.startswith("shard(s) 1 disconnected from Discord")

    def identifies(shard_id: int) -> int:
        return sum(1 for d in fake_discord.identify_payloads if d.get("shard") == [shard_id, 2])

    async with running_bot(fake_discord, settings) as bot:
        await eventually(healthy)
        assert bot.services.heartbeat is not None
        [session_0] = fake_discord.ready_session_ids(0)
        before = (identifies(0), identifies(1))
        stopped = asyncio.Event()
        # Past the 5 s IDENTIFY spacing of shard 1's first session, so the new one is quick.
        watchdog = watch_shards(
            bot, bot.services.heartbeat, limit=6, on_stale=stopped.set, check_every=0.05
        )
        watchdog.start()
        try:
            await fake_discord.shard_stuck(1)
            await eventually(shard_1_down)
            await eventually(healthy, timeout=30)  # the watchdog's limit, then a new session
        finally:
            fake_discord.shard_up(1)
            watchdog.stop()
        assert watchdog.reconnected == [1]
        assert not watchdog.tripped and not stopped.is_set()
        assert fake_discord.ready_session_ids(0) == [session_0]
        assert (identifies(0), identifies(1)) == (before[0], before[1] + 1)


async def scrape(port: int) -> Samples:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@contextmanager
def quick_gateway_heartbeats(fake: FakeDiscord) -> Iterator[None]:
    """The fake asks for a heartbeat every 100 ms, so a latency is measured at once."""
    old = fake.heartbeat_interval_ms
    fake.heartbeat_interval_ms = 100
    try:
        yield
    finally:
        fake.heartbeat_interval_ms = old


async def test_metrics_move_by_what_happened(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    with quick_gateway_heartbeats(fake_discord):
        async with running_bot(fake_discord, settings, metrics_port=0) as bot:
            port = bot.services.metrics_port
            assert port
            before = await scrape(port)
            posted = await post_many(fake_discord, GENERAL, [ALICE, BRUNO], 5, "metrics")
            await fake_discord.wait_for_sent(
                lambda m: int(m["channel_id"]) == GENERAL and int(m["id"]) > int(posted[0]["id"])
            )

            async def reply_stored() -> Samples | None:
                samples = await scrape(port)
                stored = value(samples, "bot_messages_stored_total")
                return samples if stored == value(before, "bot_messages_stored_total") + 6 else None

            after = await eventually(reply_stored)  # five messages and the bot's reply
            await fake_discord.send_reconnect()

            async def resumed() -> Samples | None:
                samples = await scrape(port)
                moved = value(samples, "bot_gateway_reconnects_total")
                latency = value(samples, "bot_gateway_latency_seconds", shard="0")
                want = value(before, "bot_gateway_reconnects_total") + 1
                return samples if moved == want and latency > 0 else None

            last = await eventually(resumed)
    assert after is not None and last is not None

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("bot_reply_decisions_total", outcome="reply") == 1
    assert delta("bot_reply_decisions_total", outcome="failed") == 0
    assert delta("bot_azure_requests_total", kind="decision") == 1
    assert delta("bot_azure_request_duration_seconds_count", kind="decision") == 1
    assert delta("bot_azure_errors_total", kind="decision", error="timeout") == 0
    assert delta("bot_llm_tokens_total", kind="prompt") > delta(
        "bot_llm_tokens_total", kind="completion"
    )
    assert delta("bot_llm_tokens_total", kind="completion") > 0
    assert delta("bot_store_operation_duration_seconds_count", operation="add") == 6
    assert value(after, "bot_voice_guilds_playing") == 0
    assert 0 < value(last, "bot_gateway_latency_seconds", shard="0") < 5
    names = {name for name, _ in last}
    assert not any("guild" in dict(labels) or "user" in dict(labels) for _, labels in last)
    assert "bot_elevenlabs_requests_total" in names


async def test_azure_tokens_are_counted_by_kind(fake_azure: FakeAzureOpenAI) -> None:
    fake_azure.cache_min_tokens = 0  # short prompts: let the second one be served from cache
    telemetry = PrometheusTelemetry()
    registry = telemetry.registry
    for kind in ("prompt", "completion", "cached"):  # scraped as 0 before the first call
        assert registry.get_sample_value("bot_llm_tokens_total", {"kind": kind}) == 0
    model = ChatCompletionsModel(
        ModelServer(fake_azure.endpoint, AZURE_KEY, api_version="2024-10-21"),
        model="gpt-test",
        timeout=10,
        max_retries=0,
        telemetry=telemetry,
    )
    request = JsonRequest(
        system="Answer with JSON. " * 100,
        user="ping",
        schema_name="check",
        schema={"type": "object", "properties": {}, "additionalProperties": False},
        temperature=None,
        max_tokens=50,
    )
    fake_azure.responder = lambda body: "{}"
    try:
        await model.complete_json(request)
        fake_azure.inject("malformed")  # no usable answer, but billed all the same
        with contextlib.suppress(LlmError):
            await model.complete_json(request)
    finally:
        await model.close()
    billed = {
        kind: sum(
            (usage or {})["prompt_tokens_details"]["cached_tokens"]
            if kind == "cached"
            else (usage or {})[f"{kind}_tokens"]
            for usage in fake_azure.usages
        )
        for kind in ("prompt", "completion", "cached")
    }
    assert billed["cached"] > 0
    for kind, tokens in billed.items():
        assert registry.get_sample_value("bot_llm_tokens_total", {"kind": kind}) == tokens


async def test_speech_calls_and_their_errors_are_counted(
    fake_elevenlabs: FakeElevenLabs, tmp_path: Path
) -> None:
    telemetry = PrometheusTelemetry()
    speech = SpeechSynthesizer(
        api_key=ELEVENLABS_KEY,
        voice_id=ELEVENLABS_VOICE,
        model_id="eleven_multilingual_v2",
        base_url=fake_elevenlabs.base_url,
        timeout=2.0,
        cache=SpeechCache(tmp_path / "speech"),
        telemetry=telemetry,
    )
    try:
        await speech.speak("hello")
        await speech.speak("hello")  # from the cache: no request
        fake_elevenlabs.failure = "quota_exceeded"
        try:
            await speech.speak("something new")
        except SpeechError as error:
            assert error.kind == "quota_exceeded"
    finally:
        await speech.close()
    registry = telemetry.registry
    assert registry.get_sample_value("bot_elevenlabs_requests_total") == 2
    assert (
        registry.get_sample_value("bot_elevenlabs_errors_total", {"error": "quota_exceeded"}) == 1
    )
    assert registry.get_sample_value("bot_elevenlabs_request_duration_seconds_count") == 2
