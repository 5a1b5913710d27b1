"""When the model fails: the fallback deployment's rule, the notice to a member who mentioned
the bot, and the schema check of a JSON-object answer; on fakes of the model port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.conversation.conversation import (
    UNANSWERED_NOTICE_SECONDS,
    ConversationService,
    Decision,
)
from services.conversation.reply_policy import Trigger
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.cooldown import Cooldown
from services.llm import FallbackChatModel, JsonRequest, LlmError, schema_violation
from tests.unit.fakes import CHANNEL, GUILD, FakeChatModel, World, by_schema, message, world

ALICE, BRUNO = 100, 101
REPLY = {"reply": True, "style": "warm", "text": "Olá!", "reason": "a greeting"}
DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reply", "style"],
    "properties": {"reply": {"type": "boolean"}, "style": {"enum": ["warm", "none"]}},
}
REQUEST = JsonRequest(
    system="Answer with JSON.",
    user="hi",
    schema_name="decision",
    schema=DECISION_SCHEMA,
    temperature=0.7,
    max_tokens=50,
)


def failing(kind: str) -> FakeChatModel:
    return FakeChatModel(lambda _: LlmError(kind))


@pytest.mark.parametrize("kind", ["rate_limited", "server_error", "timeout"])
async def test_a_throttled_down_or_slow_main_deployment_hands_the_request_to_the_fallback(
    kind: str,
) -> None:
    main, fallback = failing(kind), FakeChatModel(lambda _: REPLY)
    answer = await FallbackChatModel(main, fallback).complete_json(REQUEST)
    assert answer.data == REPLY
    assert (len(main.requests), fallback.requests) == (1, [REQUEST])


@pytest.mark.parametrize(
    "kind",
    ["content_filter_prompt", "content_filter_output", "schema", "bad_request", "unauthorized"],
)
async def test_a_failure_the_fallback_would_share_is_raised_without_asking_it(kind: str) -> None:
    main, fallback = failing(kind), FakeChatModel(lambda _: REPLY)
    with pytest.raises(LlmError) as caught:
        await FallbackChatModel(main, fallback).complete_json(REQUEST)
    assert caught.value.kind == kind
    assert fallback.requests == []


async def test_when_both_fail_the_fallbacks_error_is_the_answer_and_it_is_asked_once() -> None:
    main, fallback = failing("server_error"), failing("rate_limited")
    with pytest.raises(LlmError) as caught:
        await FallbackChatModel(main, fallback).complete_json(REQUEST)
    assert caught.value.kind == "rate_limited"
    assert (len(main.requests), len(fallback.requests)) == (1, 1)


def test_the_main_deployment_says_whether_a_temperature_is_sent() -> None:
    model = FallbackChatModel(FakeChatModel(accepts_temperature=False), FakeChatModel())
    assert model.accepts_temperature is False


def test_a_json_object_answer_is_checked_against_the_schema() -> None:
    assert schema_violation(DECISION_SCHEMA, {"reply": True, "style": "warm"}) is None
    assert schema_violation(DECISION_SCHEMA, {"reply": True}) == (
        'breaks required: ["reply", "style"]'
    )
    assert schema_violation(DECISION_SCHEMA, {"reply": "Alice said hi", "style": "warm"}) == (
        'breaks properties/reply/type: "boolean"'
    )
    assert schema_violation(DECISION_SCHEMA, {"reply": True, "style": "loud"}) == (
        'breaks properties/style/enum: ["warm", "none"]'
    )
    extra = schema_violation(DECISION_SCHEMA, {"reply": True, "style": "warm", "ping": "@here"})
    assert extra == "breaks additionalProperties: false"  # the answer's words stay out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def conversation(w: World, clock: Callable[[], float]) -> ConversationService:
    return ConversationService(
        store=w.store,
        model=w.model,
        personas=w.privacy.persona_if_allowed,
        temperature=TemperatureSettings(GuildSettingsRepository(w.store)).effective,
        quotable=w.privacy.may_store,
        context_messages=5,
        unanswered_notices=Cooldown(UNANSWERED_NOTICE_SECONDS, clock=clock),
    )


def mention(message_id: int, author: int = ALICE) -> Trigger:
    return Trigger(GUILD, CHANNEL, message_id, author, "mention")


def beat(message_id: int, author: int = ALICE) -> Trigger:
    return Trigger(GUILD, CHANNEL, message_id, author, "beat", message_id)


async def told(service: ConversationService, trigger: Trigger) -> tuple[str, bool]:
    decision: Decision = await service.decide(trigger, bot_name="Aria")
    return decision.outcome, decision.notice == "unanswered"


async def test_a_failed_mention_is_told_once_per_member_and_cooldown_a_beat_never() -> None:
    w = await world(model=FakeChatModel(lambda _: LlmError("server_error")))
    for n in range(1, 6):
        await w.store.add(message(n, author=ALICE if n % 2 else BRUNO), counted=True)
    clock = Clock()
    service = conversation(w, clock)
    assert await told(service, beat(5)) == ("failed", False)
    assert await told(service, mention(5)) == ("failed", True)
    assert await told(service, mention(5)) == ("failed", False)  # within the cooldown
    assert await told(service, mention(4, author=BRUNO)) == ("failed", True)  # another member
    clock.now += UNANSWERED_NOTICE_SECONDS
    assert await told(service, mention(5)) == ("failed", True)


async def test_an_answered_or_silent_mention_owes_no_notice() -> None:
    w = await world(model=FakeChatModel(by_schema(REPLY)))
    for n in range(1, 6):
        await w.store.add(message(n), counted=True)
    service = conversation(w, Clock())
    assert await told(service, mention(5)) == ("reply", False)
    quiet = await world(model=FakeChatModel(by_schema({**REPLY, "reply": False, "text": ""})))
    for n in range(1, 6):
        await quiet.store.add(message(n), counted=True)
    assert await told(conversation(quiet, Clock()), mention(5)) == ("silent", False)
