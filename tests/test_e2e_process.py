"""`python -m app` as an operator runs it: a real process against the loopback fakes."""

from __future__ import annotations

import asyncio
import signal

import pytest

from app.settings import Settings
from services.health import HEARTBEAT_FILE, read_health
from services.store import SqliteStore
from tests.azure_brain import Brain
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import (
    ALICE,
    BRUNO,
    GENERAL,
    GUILD_ID,
    process_environment,
    run_app,
)


async def test_sync_from_the_command_line(fake_discord: FakeDiscord, settings: Settings) -> None:
    process = await run_app(process_environment(settings, fake_discord), "sync")
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = out.decode().splitlines()
    assert process.returncode == 0, err.decode()
    assert lines[0] == f"Synced 12 command(s) to guild {GUILD_ID}:"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "/pause",
        "/persona",
        "/play",
        "/privacy",
        "/queue",
        "/resume",
        "/say",
        "/setup",
        "/skip",
        "/stop",
        "/temperature",
        "/temperature-set",
    ]


async def test_a_rejected_token_is_one_line(fake_discord: FakeDiscord, settings: Settings) -> None:
    env = process_environment(settings, fake_discord, DISCORD_TOKEN="wrong-token-123456")
    process = await run_app(env)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert err.decode().strip().splitlines()[-1] == (
        "DISCORD_TOKEN was rejected by Discord: check it (see .env.example)."
    )
    assert b"Traceback" not in out + err
    assert b"wrong-token-123456" not in out + err


async def test_an_unreachable_discord_is_one_line(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    # Nothing listens on port 9 of the loopback: the connection is refused at once.
    env = process_environment(settings, fake_discord, DISCORD_API_BASE="http://127.0.0.1:9/api/v10")
    for args in ((), ("sync",)):
        process = await run_app(env, *args)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 1
        assert err.decode().strip().splitlines()[-1].startswith("Could not reach Discord (")
        assert b"Traceback" not in out + err


async def test_kill_9_mid_conversation_loses_nothing(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    brain = Brain()
    fake_azure.responder = brain
    env = process_environment(settings, fake_discord)
    process = await run_app(env)
    await fake_discord.wait_for_state(lambda: fake_discord.connected, timeout=30)
    posted = [
        await fake_discord.post_message(GENERAL, [ALICE, BRUNO][n % 2], f"before crash {n}")
        for n in range(5)
    ]
    # The reply's decision quoted all five from the store: they were durable. Now kill -9.
    await fake_discord.wait_for_sent(
        lambda m: int(m["channel_id"]) == GENERAL and int(m["id"]) > int(posted[0]["id"])
    )
    process.send_signal(signal.SIGKILL)
    await process.communicate()

    restarted = await run_app(env)
    await fake_discord.wait_for_state(lambda: fake_discord.connected, timeout=30)
    later = [await fake_discord.post_message(GENERAL, ALICE, f"after crash {n}") for n in range(5)]
    [reply] = await fake_discord.wait_for_sent(
        lambda m: int(m["channel_id"]) == GENERAL and int(m["id"]) > int(later[0]["id"])
    )
    restarted.send_signal(signal.SIGTERM)  # a clean stop, as `docker stop` does
    await asyncio.wait_for(restarted.communicate(), 30)
    assert restarted.returncode == 0

    store = SqliteStore(settings.data_dir)
    try:
        kept = await store.last_in_channel(GENERAL, 50)
        count = await store.channel_count(GENERAL)
    finally:
        await store.close()
    human_ids = [m.message_id for m in kept if not m.from_bot]
    assert human_ids == [int(p["id"]) for p in posted + later]  # all there, none twice
    assert count == 10
    assert reply["message_reference"]["message_id"] == later[-1]["id"]
    assert len(brain.decisions) == 2


@pytest.mark.parametrize(
    ("quirk", "event"),
    [("ready_without_shard", "READY"), ("presence_echo_without_status", "PRESENCE_UPDATE")],
)
async def test_a_gateway_payload_discord_py_cannot_read_is_one_line_and_in_the_health_file(
    fake_discord: FakeDiscord, settings: Settings, quirk: str, event: str
) -> None:
    """A Discord-compatible server that sends less than Discord (issue 18, finding 11)."""
    with fake_discord.foreign() as quirks:
        setattr(quirks, quirk, True)
        process = await run_app(process_environment(settings, fake_discord))
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    output = (out + err).decode()
    assert "Traceback" not in output, output
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith(f"The gateway's {event} event could not be read by discord.py (")
    assert "KeyError" in last
    assert output.count(f"{event} event") == 1, output
    health = read_health(settings.data_dir / HEARTBEAT_FILE)
    assert not health.ok
    assert health.reason == f"stopped: {last}"
