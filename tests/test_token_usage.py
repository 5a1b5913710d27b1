"""Token accounting: every Azure call's `usage` (the fake Azure's, through the real openai SDK)
lands in the store against the server, the channel, the member and the kind of call; members'
rows go with `forget` and opt-out, and every row with retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.conversation.conversation import ConversationService
from services.conversation.reply_policy import Trigger
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.llm import ChatCompletionsModel, LlmError, ModelServer, TokenUsage
from services.servers.token_usage import NO_CHANNEL, NO_MEMBER, SpentFor
from services.store import MemoryStore, UsageRow
from tests.azure_brain import Brain, schema_name
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.harness import AZURE_KEY
from tests.unit.fakes import CHANNEL, GUILD, T0, FakeChatModel, World, by_schema, message, world

ALICE, BRUNO = 100, 101
TODAY = (T0 + timedelta(days=1)).date()  # the day of `world`'s clock
REPLY = {"reply": True, "style": "warm", "text": "Olá!", "reason": "a greeting"}


@pytest.fixture
async def azure_model(fake_azure: FakeAzureOpenAI) -> AsyncIterator[ChatCompletionsModel]:
    model = ChatCompletionsModel(
        ModelServer(fake_azure.endpoint, AZURE_KEY, api_version="2024-10-21"),
        model="gpt-test",
        timeout=10,
        max_retries=0,
    )
    yield model
    await model.close()


def conversation_for(w: World) -> ConversationService:
    return ConversationService(
        store=w.store,
        model=w.model,
        personas=w.privacy.persona_if_allowed,
        temperature=TemperatureSettings(GuildSettingsRepository(w.store)).effective,
        quotable=w.privacy.may_store,
        context_messages=5,
        usage=w.usage,
    )


def mention(message_id: int, author: int = ALICE) -> Trigger:
    return Trigger(GUILD, CHANNEL, message_id, author, "mention", message_id)


def summed(usages: list[dict[str, object] | None]) -> tuple[int, int, int, int]:
    """(prompt, completion, cached, calls) over the fake's `usage` objects."""
    prompt = completion = cached = 0
    for usage in usages:
        assert usage is not None
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]  # type: ignore[operator]
        prompt += int(usage["prompt_tokens"])  # type: ignore[call-overload]
        completion += int(usage["completion_tokens"])  # type: ignore[call-overload]
        details = usage["prompt_tokens_details"]
        assert isinstance(details, dict)
        cached += int(details["cached_tokens"])
    return prompt, completion, cached, len(usages)


async def test_a_decision_and_a_persona_build_record_the_fake_azures_usage(
    fake_azure: FakeAzureOpenAI, azure_model: ChatCompletionsModel
) -> None:
    fake_azure.responder = Brain()
    fake_azure.cache_min_tokens = 0  # the decision prompts are short: let the cache show
    w = await world(model=azure_model)  # type: ignore[arg-type]
    for n in range(1, 7):
        await w.store.add(message(n, author=ALICE if n % 2 else BRUNO), counted=True)
    service = conversation_for(w)
    first = await service.decide(mention(5), bot_name="Aria")  # builds Alice's profile first
    second = await service.decide(mention(5), bot_name="Aria")
    assert (first.outcome, second.outcome) == ("reply", "reply")
    await w.usage.wait_idle()

    kinds = [schema_name(request["json"]) for request in fake_azure.requests]
    assert kinds == ["persona", "decision", "decision"]
    persona, *decisions = fake_azure.usages
    assert await w.usage.since(GUILD, TODAY) == [
        UsageRow(TODAY, GUILD, NO_CHANNEL, ALICE, "persona", *summed([persona])),
        UsageRow(TODAY, GUILD, CHANNEL, ALICE, "decision", *summed(decisions)),
    ]
    # The second decision begins like the first: Azure served that beginning from its cache.
    assert summed(decisions)[2] > 0


async def test_a_call_that_fails_after_the_answer_is_counted_too(
    fake_azure: FakeAzureOpenAI, azure_model: ChatCompletionsModel
) -> None:
    fake_azure.responder = Brain()
    w = await world(model=azure_model)  # type: ignore[arg-type]
    await w.store.add(message(1, author=ALICE), counted=True)
    await w.personas.get(GUILD, ALICE)
    fake_azure.inject("malformed")  # billed, but not JSON
    decision = await conversation_for(w).decide(mention(1), bot_name="Aria")
    assert (decision.outcome, decision.reason) == ("failed", "malformed")
    await w.usage.wait_idle()
    rows = [row for row in await w.usage.since(GUILD, TODAY) if row.kind == "decision"]
    assert rows == [
        UsageRow(TODAY, GUILD, CHANNEL, ALICE, "decision", *summed(fake_azure.usages[-1:]))
    ]


async def test_a_call_refused_before_any_answer_costs_nothing() -> None:
    w = await world(model=FakeChatModel(lambda _: LlmError("rate_limited")))
    await w.store.add(message(1, author=ALICE), counted=True)
    await conversation_for(w).decide(mention(1), bot_name="Aria")
    await w.usage.wait_idle()
    assert await w.usage.since(GUILD, TODAY) == []


async def test_forget_and_opt_out_delete_the_members_token_counts() -> None:
    w = await world(model=FakeChatModel(by_schema(REPLY)))
    for n in range(1, 5):
        await w.store.add(message(n, author=ALICE if n % 2 else BRUNO), counted=True)
    service = conversation_for(w)
    await service.decide(mention(3, ALICE), bot_name="Aria")
    await service.decide(mention(4, BRUNO), bot_name="Aria")
    await w.usage.wait_idle()
    members = {row.member_id for row in await w.usage.since(GUILD, TODAY)}
    assert members == {ALICE, BRUNO}

    await w.privacy.forget(GUILD, ALICE)
    assert {row.member_id for row in await w.usage.since(GUILD, TODAY)} == {BRUNO}
    await w.privacy.opt_out(GUILD, BRUNO)
    assert await w.usage.since(GUILD, TODAY) == []


async def test_forget_waits_for_the_rows_still_being_written() -> None:
    w = await world()
    w.usage.record("decision", SpentFor(GUILD, CHANNEL, ALICE), TokenUsage(100, 10, 0))
    await w.privacy.forget(GUILD, ALICE)  # called before the row's write ran
    assert await w.usage.since(GUILD, TODAY) == []


async def test_an_opted_out_members_calls_count_for_the_server_only() -> None:
    w = await world()
    await w.privacy.opt_out(GUILD, ALICE)
    w.usage.record("decision", SpentFor(GUILD, CHANNEL, ALICE), TokenUsage(100, 10, 0))
    await w.usage.wait_idle()
    [row] = await w.usage.since(GUILD, TODAY)
    assert (row.member_id, row.prompt) == (NO_MEMBER, 100)


async def test_retention_deletes_the_token_counts_of_days_before_it() -> None:
    store = MemoryStore()
    now = [T0]
    w = await world(store=store, clock=lambda: now[0])
    for day in range(40):
        now[0] = T0 + timedelta(days=day)
        w.usage.record("decision", SpentFor(GUILD, CHANNEL, ALICE), TokenUsage(100, 10, 0))
    await w.usage.wait_idle()
    report = await w.privacy.purge_expired()  # on day 39, with 30 days of retention
    assert report.usage_rows == 9  # days 0 to 8 ended before the cutoff (day 9, 12:00)
    kept = await w.usage.since(GUILD, T0.date())
    assert [row.day for row in kept] == [(T0 + timedelta(days=d)).date() for d in range(9, 40)]
