"""Azure spend: calls per minute per server and in all, and a failed persona build backing off."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import pytest

from services.conversation.conversation import ConversationService
from services.conversation.persona import FAILED_BUILD_BACKOFF, PersonaProfiles, PersonaService
from services.conversation.reply_policy import Trigger
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.llm import JsonRequest, LlmError
from services.servers.azure_limits import AzureCallLimits
from tests.unit.fakes import (
    CHANNEL,
    GUILD,
    PERSONA_ANSWER,
    T0,
    FakeChatModel,
    World,
    by_schema,
    message,
    world,
)

T = TypeVar("T")
OTHER_GUILD = 2
ALICE, BRUNO = 100, 101
REPLY = {"reply": True, "style": "warm", "text": "hi", "reason": "a greeting"}


class ClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock the test moves (aiolimiter's buckets leak by `loop.time()`)."""

    now = 1000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def loop() -> Iterator[ClockLoop]:
    loop = ClockLoop()
    yield loop
    loop.close()


def run(loop: ClockLoop, work: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await work()

    return loop.run_until_complete(main())


def admitted(loop: ClockLoop, limits: AzureCallLimits, guild: int, times: int) -> list[bool]:
    async def calls() -> list[bool]:
        return [(await limits.admit(guild, "decision")).admitted for _ in range(times)]

    return run(loop, calls)


def test_a_server_over_its_limit_is_refused_while_another_is_not(loop: ClockLoop) -> None:
    limits = AzureCallLimits(per_server=3, total=100)
    assert admitted(loop, limits, GUILD, 5) == [True, True, True, False, False]
    assert admitted(loop, limits, OTHER_GUILD, 3) == [True, True, True]
    refused = run(loop, lambda: limits.admit(GUILD, "persona"))
    assert refused.refused_by == "server"
    loop.now += 60  # a minute later the bucket has drained
    assert admitted(loop, limits, GUILD, 4) == [True, True, True, False]


def test_the_global_limit_holds_across_servers_and_takes_nothing_from_a_refused_one(
    loop: ClockLoop,
) -> None:
    limits = AzureCallLimits(per_server=3, total=4)
    assert admitted(loop, limits, GUILD, 3) == [True, True, True]
    assert admitted(loop, limits, OTHER_GUILD, 3) == [True, False, False]
    refused = run(loop, lambda: limits.admit(OTHER_GUILD, "decision"))
    assert refused.refused_by == "global"
    loop.now += 15  # one call's worth of the global minute (4 a minute) has drained
    assert admitted(loop, limits, OTHER_GUILD, 2) == [True, False]


def test_a_refusal_is_logged_once_a_minute_per_server(
    loop: ClockLoop, caplog: pytest.LogCaptureFixture
) -> None:
    limits = AzureCallLimits(per_server=1, total=100)
    with caplog.at_level(logging.WARNING, logger="services.servers.azure_limits"):
        admitted(loop, limits, GUILD, 10)
        admitted(loop, limits, OTHER_GUILD, 10)
        loop.now += 30
        admitted(loop, limits, GUILD, 3)  # half a bucket drained: still refused, not logged
        loop.now += 30
        admitted(loop, limits, GUILD, 3)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert [line.split(":")[0] for line in lines] == [
        f"guild {GUILD}",
        f"guild {OTHER_GUILD}",
        f"guild {GUILD}",
    ]


def conversation(w: World, limits: AzureCallLimits) -> ConversationService:
    return ConversationService(
        store=w.store,
        model=w.model,
        personas=w.personas.get,
        temperature=TemperatureSettings(GuildSettingsRepository(w.store)).effective,
        quotable=w.privacy.may_store,
        context_messages=5,
        limits=limits,
    )


async def test_a_trigger_over_the_limit_makes_no_call_and_stays_silent() -> None:
    limits = AzureCallLimits(per_server=3, total=100)
    w = await world(model=FakeChatModel(by_schema(REPLY)))
    w.personas = PersonaService(
        store=w.store,
        profiles=PersonaProfiles(w.store),
        model=w.model,
        history=30,
        refresh_after=10,
        min_interval=timedelta(0),
        tasks=w.tasks,
        limits=limits,
    )
    for n in range(1, 11):
        await w.store.add(message(n, author=ALICE + n), counted=True)
    service = conversation(w, limits)
    outcomes = []
    for n in range(1, 11):  # ten new authors: a raid of fresh accounts
        trigger = Trigger(GUILD, CHANNEL, n, ALICE + n, "mention" if n % 2 else "beat", n)
        outcomes.append((await service.decide(trigger, bot_name="Aria")).outcome)
    assert len(w.model.requests) == 3  # a persona build and a decision, then one more build
    assert outcomes == ["reply", "limited", *["limited"] * 8]
    assert w.personas.builds == 2


async def test_a_failed_profile_build_is_not_tried_again_for_some_minutes() -> None:
    now = [T0]
    filtered = LlmError("content_filter", "the prompt was filtered")

    def answer(request: JsonRequest) -> dict[str, object] | LlmError:
        return filtered if request.schema_name == "persona" else REPLY

    w = await world(model=FakeChatModel(answer), clock=lambda: now[0])
    personas = PersonaService(
        store=w.store,
        profiles=PersonaProfiles(w.store),
        model=w.model,
        history=30,
        refresh_after=10,
        min_interval=timedelta(0),
        tasks=w.tasks,
        clock=lambda: now[0],
    )
    await w.store.add(message(1, author=ALICE), counted=True)
    await w.store.add(message(2, author=BRUNO), counted=True)
    for _ in range(5):  # five triggers in a row: one build
        assert await personas.get(GUILD, ALICE) is None
    assert len(w.model.of_kind("persona")) == 1
    await personas.get(GUILD, BRUNO)  # another member is not held back by Alice's failure
    assert len(w.model.of_kind("persona")) == 2
    now[0] += FAILED_BUILD_BACKOFF - timedelta(seconds=1)
    assert await personas.get(GUILD, ALICE) is None
    assert len(w.model.of_kind("persona")) == 2
    now[0] += timedelta(seconds=1)
    w.model.answer = by_schema(REPLY)
    built = await personas.get(GUILD, ALICE)
    assert built is not None and built.summary == PERSONA_ANSWER["summary"]
    assert len(w.model.of_kind("persona")) == 3
