"""The one reply decision: which messages are stored, counted and answered, and why."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.conversation.reply_policy import FloodGuard, MessageFacts, ReplyPolicy, Skip, Trigger
from services.cooldown import Cooldown
from services.store import SqliteStore
from tests.unit.fakes import CHANNEL, GUILD, World, message, world

ALICE, BRUNO = 100, 101


def policy_for(
    w: World, *, every: int = 5, cooldown: float = 20.0, flood: FloodGuard | None = None
) -> ReplyPolicy:
    return ReplyPolicy(
        store=w.store,
        privacy=w.privacy,
        every=every,
        mention_cooldown=Cooldown(cooldown),
        flood=flood or FloodGuard(),
    )


def facts(
    message_id: int, *, author: int = ALICE, mention: bool = False, **kw: object
) -> MessageFacts:
    return MessageFacts(message(message_id, author=author, **kw), addresses_bot=mention)  # type: ignore[arg-type]


async def test_every_fifth_message_of_a_channel_is_a_beat() -> None:
    policy = policy_for(await world())
    steps = [await policy.take(facts(n, author=ALICE + n % 2)) for n in range(1, 11)]
    triggers = [s for s in steps if isinstance(s, Trigger)]
    assert [(t.message_id, t.reason, t.count) for t in triggers] == [
        (5, "beat", 5),
        (10, "beat", 10),
    ]
    assert {s.reason for s in steps if isinstance(s, Skip)} == {"not a beat"}


async def test_channels_count_separately() -> None:
    w = await world()
    policy = policy_for(w, every=2)
    channels = [1, 2, 1, 2, 2]
    steps = [await policy.take(facts(n, channel=c)) for n, c in enumerate(channels, start=1)]
    assert [isinstance(s, Trigger) for s in steps] == [False, False, True, True, False]
    assert (await w.store.channel_count(1), await w.store.channel_count(2)) == (2, 3)


async def test_the_bot_s_own_messages_are_stored_but_never_counted() -> None:
    w = await world()
    policy = policy_for(w)
    step = await policy.take(facts(1, author=999, from_bot=True))
    assert step == Skip(1, "own message")
    assert await w.store.channel_count(CHANNEL) == 0
    assert [m.message_id for m in await w.store.last_in_channel(CHANNEL, 5)] == [1]


async def test_a_replayed_message_is_neither_counted_nor_answered_twice() -> None:
    w = await world()
    policy = policy_for(w, every=1)
    first, again = await policy.take(facts(1)), await policy.take(facts(1))
    assert isinstance(first, Trigger)
    assert again == Skip(1, "replay")
    assert await w.store.channel_count(CHANNEL) == 1


async def test_a_mention_is_answered_at_once_then_cools_down() -> None:
    policy = policy_for(await world())
    first = await policy.take(facts(1, mention=True))
    second = await policy.take(facts(2, mention=True))
    other = await policy.take(facts(3, author=BRUNO, mention=True))
    assert isinstance(first, Trigger) and first.reason == "mention"
    assert second == Skip(2, "not a beat", 2)
    assert isinstance(other, Trigger) and other.author_id == BRUNO


async def test_an_opted_out_member_counts_but_is_not_kept_or_addressed() -> None:
    w = await world()
    await w.privacy.opt_out(GUILD, ALICE)
    policy = policy_for(w)
    steps = [await policy.take(facts(n, mention=n == 1)) for n in range(1, 6)]
    assert all(isinstance(s, Skip) for s in steps[:4])  # the mention is not answered
    beat = steps[4]
    assert isinstance(beat, Trigger) and beat.reason == "beat"
    assert not beat.answer_author  # the bot may speak to the channel, not to them
    assert await w.store.last_in_channel(CHANNEL, 10) == []
    assert await w.store.channel_count(CHANNEL) == 5


async def test_a_flooding_member_s_beats_are_skipped_but_still_counted() -> None:
    now = [0.0]
    flood = FloodGuard(messages=3, window=10, decide_every=60, clock=lambda: now[0])
    w = await world()
    policy = policy_for(w, every=2, flood=flood)
    steps = [await policy.take(facts(n)) for n in range(1, 7)]
    # The first beat (2) comes before the flood; at 4 the member is flooding and gets one
    # decision a minute: 4 is decided, 6 is skipped.
    assert [s.reason if isinstance(s, Skip) else "trigger" for s in steps] == [
        "not a beat",
        "trigger",
        "not a beat",
        "trigger",
        "not a beat",
        "flooding",
    ]
    other = [await policy.take(facts(n, author=BRUNO)) for n in (7, 8)]
    assert isinstance(other[1], Trigger)  # someone else is unaffected
    assert await w.store.channel_count(CHANNEL) == 8


async def test_concurrent_messages_are_counted_in_arrival_order() -> None:
    w = await world()
    policy = policy_for(w)
    steps = await asyncio.gather(
        *(policy.take(facts(n, author=ALICE + n % 7)) for n in range(1, 21))
    )
    counts = [s.count for s in steps]
    assert counts == list(range(1, 21))
    assert [s.message_id for s in steps if isinstance(s, Trigger)] == [5, 10, 15, 20]


def test_flood_marks_older_than_their_window_are_forgotten() -> None:
    now = [0.0]
    flood = FloodGuard(messages=3, window=10, decide_every=60, clock=lambda: now[0])
    for member in range(1_000):  # a raid of one-message accounts
        flood.note(1, member)
    for _ in range(3):
        flood.note(1, 5_000)
    assert flood.admits(1, 5_000) and flood.is_flooding(1, 5_000)
    now[0] = 30.0  # the raid is over: a window and more without a word from them
    flood.note(2, 7)
    assert flood.members_tracked == 2  # the flooder's decision still counts for 60 s
    now[0] = 100.0
    flood.note(2, 7)
    assert flood.members_tracked == 1  # only the member who just wrote


async def test_a_store_that_cannot_write_gets_no_answer_and_the_listener_goes_on(
    tmp_path: Path,
) -> None:
    w = await world()
    store = SqliteStore(tmp_path)
    policy = ReplyPolicy(
        store=store, privacy=w.privacy, every=1, mention_cooldown=Cooldown(0), flood=FloodGuard()
    )
    try:
        assert isinstance(await policy.take(facts(1)), Trigger)
        # The file may grow no more: SQLite answers SQLITE_FULL, as a full disk does.
        pages = await store._write(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        await store._write(lambda c: c.execute(f"PRAGMA max_page_count = {pages}").fetchall())
        big = "x" * 100_000
        refused = await policy.take(facts(2, mention=True, text=big))
        assert refused == Skip(2, "not stored")  # not stored, so not answered
        await store._write(lambda c: c.execute("PRAGMA max_page_count = 1000000").fetchall())
        again = await policy.take(facts(3, mention=True))
        assert isinstance(again, Trigger) and again.count == 2
        assert [m.message_id for m in await store.last_in_channel(CHANNEL, 5)] == [1, 3]
    finally:
        await store.close()
