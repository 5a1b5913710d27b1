"""Privacy controls and the reply decision's prompt, on the in-memory store and a fake model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from services.conversation.conversation import ConversationService
from services.conversation.persona import PersonaProfiles, PersonaService
from services.conversation.reply_policy import RepliedMessage, Trigger
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.discord_ids import first_id_at
from services.llm import LlmError
from services.privacy.retention import RetentionJob
from services.store import MemoryLeases, MemoryStore, StoredMessage
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

ALICE, BRUNO, BOT = 100, 101, 999
REPLY = {"reply": True, "style": "warm", "text": "Aria: Olá!", "reason": "a greeting"}


async def chat(w: World, count: int, *, author: int = ALICE) -> None:
    for n in range(1, count + 1):
        await w.store.add(message(n, author=author if n % 2 else BRUNO), counted=True)


def conversation_for(w: World) -> ConversationService:
    return ConversationService(
        store=w.store,
        model=w.model,
        personas=w.privacy.persona_if_allowed,
        temperature=TemperatureSettings(GuildSettingsRepository(w.store)).effective,
        quotable=w.privacy.may_store,
        context_messages=5,
    )


def beat(message_id: int, author: int = ALICE) -> Trigger:
    return Trigger(GUILD, CHANNEL, message_id, author, "beat", message_id)


async def test_forget_removes_messages_replies_profile_and_choice() -> None:
    w = await world()
    await chat(w, 6)
    await w.store.add(message(50, author=BOT, from_bot=True), counted=False)
    await w.privacy.note_replies(GUILD, ALICE, [50])
    assert await w.personas.get(GUILD, ALICE) is not None
    await w.privacy.opt_in(GUILD, ALICE)
    forgotten = await w.privacy.forget(GUILD, ALICE)
    assert (forgotten.messages, forgotten.profile) == (3, True)
    left = await w.store.last_in_channel(CHANNEL, 10)
    assert [m.author_id for m in left] == [BRUNO] * 3  # the bot's reply to Alice went too
    assert await w.personas.stored(GUILD, ALICE) is None
    assert w.privacy.choice(GUILD, ALICE) is None


async def test_opting_out_forgets_and_stops_storing_and_profiling() -> None:
    w = await world()
    await chat(w, 2)
    await w.privacy.opt_out(GUILD, ALICE)
    assert not w.privacy.may_store(GUILD, ALICE)
    assert await w.privacy.persona_if_allowed(GUILD, ALICE) is None
    assert w.model.of_kind("persona") == []
    # The choice is durable: a new service on the same store knows it before any message.
    again = await world(store=w.store)
    assert not again.privacy.may_store(GUILD, ALICE)


async def test_with_opt_in_consent_nobody_is_profiled_until_they_ask() -> None:
    w = await world(consent_mode="opt-in")
    await chat(w, 4)
    assert await w.privacy.persona_if_allowed(GUILD, ALICE) is None
    await w.privacy.opt_in(GUILD, ALICE)
    assert await w.privacy.persona_if_allowed(GUILD, ALICE) is not None
    assert w.privacy.may_store(GUILD, BRUNO)  # storing needs no consent, profiling does


async def test_retention_deletes_old_messages_and_the_profiles_left_without_any() -> None:
    w = await world(clock=lambda: T0 + timedelta(days=31))
    await chat(w, 4)
    await w.store.add(message(5, author=BRUNO, at=T0 + timedelta(days=30)), counted=True)
    await w.personas.get(GUILD, ALICE)
    await w.personas.get(GUILD, BRUNO)
    report = await w.privacy.purge_expired()
    assert (report.messages, report.profiles) == (4, 1)
    assert await w.personas.members() == [(GUILD, BRUNO)]


async def test_retention_drops_the_tracked_ids_of_replies_older_than_it() -> None:
    now = T0 + timedelta(days=31)
    w = await world(clock=lambda: now)
    old = [first_id_at(T0 + timedelta(hours=n)) for n in range(3)]  # 31 days ago and more
    recent = first_id_at(now - timedelta(days=1))
    await w.privacy.note_replies(GUILD, ALICE, [*old, recent])
    await w.privacy.note_replies(GUILD, BRUNO, old)
    report = await w.privacy.purge_expired()
    assert report.reply_ids == 6
    assert await w.store.get_state("bot_replies", f"{GUILD}:{ALICE}") == {"v": 1, "ids": [recent]}
    assert await w.store.get_state("bot_replies", f"{GUILD}:{BRUNO}") is None  # none left
    assert (await w.privacy.purge_expired()).reply_ids == 0


async def test_a_decision_quotes_the_last_five_messages_up_to_the_trigger() -> None:
    w = await world(model=FakeChatModel(by_schema(REPLY)))
    await chat(w, 8)
    decision = await conversation_for(w).decide(beat(7), bot_name="Aria")
    assert decision.outcome == "reply"
    assert decision.context_ids == (3, 4, 5, 6, 7)
    assert decision.parts == ("Olá!",)  # the model's "Aria:" prefix is cleaned
    [request] = w.model.of_kind("decision")
    assert "message 7" in request.user and "message 8" not in request.user
    assert "message 2" not in request.user


async def test_a_model_failure_is_silence_with_its_reason() -> None:
    w = await world(model=FakeChatModel(lambda _: LlmError("content_filter")))
    await chat(w, 5)
    decision = await conversation_for(w).decide(beat(5), bot_name="Aria")
    assert (decision.outcome, decision.reason, decision.parts) == ("failed", "content_filter", ())


async def test_an_author_better_left_unanswered_gets_silence_without_a_call() -> None:
    w = await world(model=FakeChatModel(lambda _: {**PERSONA_ANSWER, "reply_style": "none"}))
    await chat(w, 5)
    decision = await conversation_for(w).decide(beat(5), bot_name="Aria")
    assert decision.outcome == "silent" and decision.persona_style == "none"
    assert w.model.of_kind("decision") == []


async def test_a_young_profile_keeps_up_while_a_mature_one_waits_its_interval() -> None:
    now = [T0]
    store_world = await world(clock=lambda: now[0])
    personas = PersonaService(
        store=store_world.store,
        profiles=PersonaProfiles(store_world.store),
        model=store_world.model,
        history=30,
        refresh_after=10,
        min_interval=timedelta(minutes=30),
        tasks=store_world.tasks,
        clock=lambda: now[0],
    )

    async def write(first: int, count: int) -> None:
        for n in range(first, first + count):
            now[0] = T0 + timedelta(seconds=n)
            await store_world.store.add(message(n, author=ALICE, at=now[0]), counted=True)

    await write(1, 3)
    young = await personas.get(GUILD, ALICE)
    assert young is not None and young.built_from == 3
    await write(4, 10)  # ten more, a minute later: well inside the 30 minutes
    await personas.get(GUILD, ALICE)
    await store_world.tasks.wait_idle()
    caught_up = await personas.stored(GUILD, ALICE)
    assert caught_up is not None and caught_up.built_from == 13
    await write(14, 30)
    await personas.get(GUILD, ALICE)
    await store_world.tasks.wait_idle()
    mature = await personas.stored(GUILD, ALICE)
    assert mature is not None and mature.built_from == 30
    await write(44, 10)  # a mature profile waits for its interval
    await personas.get(GUILD, ALICE)
    await store_world.tasks.wait_idle()
    assert await personas.stored(GUILD, ALICE) == mature
    assert len(store_world.model.of_kind("persona")) == 3


def replying(message_id: int, replied: StoredMessage) -> Trigger:
    answered = RepliedMessage(
        replied.message_id, replied.author_id, replied.author_name, replied.content, False
    )
    return replace(beat(message_id), replied_to=answered)


async def test_a_reply_to_an_older_message_quotes_what_it_answers() -> None:
    w = await world(model=FakeChatModel(by_schema(REPLY)))
    old = message(1, author=BRUNO, text="the rare word is quokka")
    await w.store.add(old, counted=True)
    for n in range(2, 10):
        await w.store.add(message(n), counted=True)
    decision = await conversation_for(w).decide(replying(9, old), bot_name="Aria")
    assert decision.context_ids == (5, 6, 7, 8, 9)
    [request] = w.model.of_kind("decision")
    assert "<replied_to>" in request.user and "quokka" in request.user


async def test_no_quote_of_a_reply_already_in_context_or_by_an_opted_out_member() -> None:
    w = await world(model=FakeChatModel(by_schema(REPLY)))
    await chat(w, 8)
    inside = message(6, author=BRUNO)
    await conversation_for(w).decide(replying(8, inside), bot_name="Aria")
    hidden = message(1, author=BRUNO, text="the rare word is quokka")
    await w.privacy.opt_out(GUILD, BRUNO)
    await conversation_for(w).decide(replying(8, hidden), bot_name="Aria")
    assert all("<replied_to>" not in r.user for r in w.model.of_kind("decision"))
    assert len(w.model.of_kind("decision")) == 2


async def test_retention_runs_once_a_day_across_the_processes_on_one_store() -> None:
    now = [0.0]
    leases = MemoryLeases(clock=lambda: now[0])
    w = await world(clock=lambda: T0 + timedelta(days=31))
    first = RetentionJob(w.privacy, leases, owner="process-1")
    second = RetentionJob(w.privacy, leases, owner="process-2")
    await chat(w, 2)
    assert await first.run_if_due() is not None
    assert await second.run_if_due() is None  # the other process purged today
    await w.store.add(message(3, at=T0), counted=True)
    now[0] = 24 * 3600.0  # a day later, whoever ticks first purges
    report = await second.run_if_due()
    assert report is not None and report.messages == 1
    assert await first.run_if_due() is None


class CountingStore(MemoryStore):
    """The in-memory store, counting the writes that delete messages."""

    def __init__(self) -> None:
        super().__init__()
        self.deletes = 0
        self.batches: list[list[int]] = []

    async def delete(self, message_id: int) -> bool:
        self.deletes += 1
        return await super().delete(message_id)

    async def delete_many(self, message_ids: Sequence[int]) -> int:
        self.batches.append(list(message_ids))
        return await super().delete_many(message_ids)


async def test_forget_deletes_the_bots_replies_in_one_batch() -> None:
    store = CountingStore()
    w = await world(store=store)
    reply_ids = list(range(5_000, 6_000))  # MAX_TRACKED_REPLIES of them
    for reply_id in reply_ids[:3]:
        await store.add(message(reply_id, author=BOT, from_bot=True), counted=False)
    await w.privacy.note_replies(GUILD, ALICE, reply_ids)
    await w.privacy.forget(GUILD, ALICE)
    assert store.deletes == 0
    assert store.batches == [reply_ids]
    assert await store.last_in_channel(CHANNEL, 10) == []
