"""When the model fails, and when it is not Azure: the real bot, the fake Discord and the fake
Azure (which also serves an OpenAI-compatible route, as Ollama or vLLM do)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from app.settings import Secret, Settings
from commands.locales import en
from services.conversation.conversation import Decision
from tests.azure_brain import Brain, schema_name
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import (
    ALICE,
    AZURE_KEY,
    BOT,
    BRUNO,
    CAROL,
    FALLBACK_DEPLOYMENT,
    GENERAL,
    RANDOM,
    chat_listener,
    eventually,
    post_many,
    running_bot,
    sent_after,
)
from tests.test_e2e_health_metrics import scrape, value

JSON = dict[str, Any]
MAIN = "gpt-test"


def decision_requests(fake: FakeAzureOpenAI) -> list[JSON]:
    return [
        r
        for r in fake.requests
        if isinstance(r["json"], dict) and schema_name(r["json"]) == "decision"
    ]


async def test_the_fallback_deployment_answers_when_the_main_one_returns_503(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    fake_azure.failing[MAIN] = "503"
    with_fallback = replace(settings, azure_openai_fallback_deployment=FALLBACK_DEPLOYMENT)
    async with running_bot(fake_discord, with_fallback, metrics_port=0) as bot:
        port = bot.services.metrics_port
        assert port
        posted = await post_many(fake_discord, GENERAL, [ALICE, BRUNO], 5, "fallback")
        [reply] = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, GENERAL, posted[0])
        )
        [decision] = chat_listener(bot).decisions
        samples = await scrape(port)
    assert reply["content"] == "re: fallback 5"
    assert reply["message_reference"]["message_id"] == posted[-1]["id"]
    assert decision.outcome == "reply"
    # The main deployment: its first try and the SDK's two retries, all 503; then the
    # fallback, once.
    tried = [(r["deployment"], r["status"]) for r in decision_requests(fake_azure)]
    assert tried == [(MAIN, 503)] * 3 + [(FALLBACK_DEPLOYMENT, 200)]

    def calls(deployment: str, outcome: str) -> float:
        labels = {"kind": "decision", "deployment": deployment, "outcome": outcome}
        return value(samples, "bot_llm_calls_total", **labels)

    assert calls(MAIN, "server_error") == 1
    assert calls(FALLBACK_DEPLOYMENT, "answered") == 1
    assert calls(MAIN, "answered") == 0


async def test_a_mention_with_both_deployments_failing_gets_one_sentence_a_beat_nothing(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    fake_azure.failing[MAIN] = "503"
    fake_azure.failing[FALLBACK_DEPLOYMENT] = "429"
    with_fallback = replace(
        settings, azure_openai_fallback_deployment=FALLBACK_DEPLOYMENT, mention_cooldown_seconds=0
    )
    async with running_bot(fake_discord, with_fallback) as bot:
        decisions = chat_listener(bot).decisions

        async def decided(count: int) -> list[Decision] | None:
            return list(decisions) if len(decisions) >= count else None

        # A beat nobody asked for: silence, as ever.
        beat = await post_many(fake_discord, GENERAL, [CAROL], 5, "beat")
        await eventually(lambda: decided(1))
        await bot.services.tasks.wait_idle()
        assert sent_after(fake_discord, GENERAL, beat[0]) == []
        # A mention: one sentence, answering it, pinging nobody.
        mention = await fake_discord.post_message(
            RANDOM, ALICE, f"<@{BOT.id}> are you there?", mentions=[BOT]
        )
        [sentence] = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, RANDOM, mention)
        )
        # Her next mention, minutes sooner than the notice's cooldown: nothing more.
        again = await fake_discord.post_message(
            RANDOM, ALICE, f"<@{BOT.id}> hello?", mentions=[BOT]
        )
        await eventually(lambda: decided(3))
        await bot.services.tasks.wait_idle()
        assert sent_after(fake_discord, RANDOM, again) == []
        # Another member whose prompt the content filter refuses hears it too.
        fake_azure.failing = {MAIN: "content_filter_prompt"}
        filtered = await fake_discord.post_message(
            RANDOM, BRUNO, f"<@{BOT.id}> something the filter refuses", mentions=[BOT]
        )
        [told] = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, RANDOM, filtered)
        )
        outcomes = [
            (d.trigger.reason, d.outcome, d.reason, d.notice == "unanswered") for d in decisions
        ]
    assert outcomes == [
        ("beat", "failed", "rate_limited", False),
        ("mention", "failed", "rate_limited", True),
        ("mention", "failed", "rate_limited", False),
        ("mention", "failed", "content_filter_prompt", True),
    ]
    for notice, trigger in ((sentence, mention), (told, filtered)):
        assert notice["content"] == en.MESSAGES["chat.unanswered"]
        assert notice["message_reference"]["message_id"] == trigger["id"]
        assert notice["allowed_mentions"]["parse"] == []
    # The content filter's refusal is the same on any deployment: the fallback is not asked.
    assert decision_requests(fake_azure)[-1]["deployment"] == MAIN


async def test_an_openai_compatible_server_with_only_json_objects_still_decides(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    brain = Brain()
    fake_azure.responder = brain
    fake_azure.json_object_only = True
    ollama_like = replace(
        settings,
        azure_openai_api_key=Secret(""),
        azure_openai_endpoint="",
        azure_openai_deployment="",
        openai_base_url=fake_azure.openai_base_url,
        openai_api_key=Secret(AZURE_KEY),
        openai_model=MAIN,
    )
    async with running_bot(fake_discord, ollama_like) as bot:
        posted = await post_many(fake_discord, GENERAL, [ALICE, BRUNO], 10, "local")
        replies = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, GENERAL, posted[0]), count=2
        )
        decisions = list(chat_listener(bot).decisions)
    assert sorted(r["content"] for r in replies) == ["re: local 10", "re: local 5"]
    assert [d.outcome for d in decisions] == ["reply", "reply"]
    assert all(d.persona_style == "playful" for d in decisions)  # personas were built too
    requests = [r for r in fake_azure.requests if isinstance(r["json"], dict)]
    assert {r["api"] for r in requests} == {"openai"}
    formats = [(r["json"]["response_format"]["type"], r["status"]) for r in requests]
    # Refused (the first decision and the persona build it started may both have asked),
    # then a JSON object every time: the server's answer is remembered.
    strict = [n for n, sent in enumerate(formats) if sent[0] == "json_schema"]
    assert strict[0] == 0 and len(strict) <= 2 and strict[-1] <= 2, formats
    assert {formats[n] for n in strict} == {("json_schema", 400)}
    objects = [request for n, request in enumerate(requests) if n not in strict]
    assert {(r["json"]["response_format"]["type"], r["status"]) for r in objects} == {
        ("json_object", 200)
    }
    for request in objects:
        system = request["json"]["messages"][0]["content"]
        named = schema_name(request["json"])
        assert f'JSON schema named "{named}"' in system
        assert json.loads(system.rsplit("\n", 1)[1])["type"] == "object"
