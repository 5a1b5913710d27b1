"""Catching up after a fresh gateway session: what is stored, counted, reconciled and answered."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from services.conversation.catch_up import (
    BacklogTrigger,
    CatchUp,
    CatchUpPolicy,
    HistoryMessage,
    LiveMarks,
)
from services.conversation.reply_policy import FloodGuard, MessageFacts, ReplyPolicy, Skip, Trigger
from services.cooldown import Cooldown
from services.discord_ids import first_id_at
from tests.unit.fakes import CHANNEL, GUILD, T0, World, message, world

ALICE, BRUNO = 100, 101
THREAD = 11


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def mid(seconds: float) -> int:
    """A Discord id of a message created `seconds` after T0."""
    return first_id_at(at(seconds))


def facts(
    seconds: float, *, author: int = ALICE, mention: bool = False, **kw: object
) -> MessageFacts:
    stored = message(mid(seconds), author=author, at=at(seconds), **kw)  # type: ignore[arg-type]
    return MessageFacts(replace(stored, content=f"said at {seconds:g}"), addresses_bot=mention)


def history(*items: MessageFacts) -> list[HistoryMessage]:
    return [HistoryMessage(f.message.message_id, f) for f in items]


def trigger(message_id: int, reason: str = "beat") -> Trigger:
    return Trigger(GUILD, CHANNEL, message_id, ALICE, reason)  # type: ignore[arg-type]


def policy_for(w: World, *, every: int = 5, flood: FloodGuard | None = None) -> ReplyPolicy:
    return ReplyPolicy(
        store=w.store,
        privacy=w.privacy,
        every=every,
        mention_cooldown=Cooldown(20),
        flood=flood or FloodGuard(),
    )


def catch_up_for(
    w: World, policy: ReplyPolicy, *, now: float, limit: int = 500, overlap: int = 50
) -> CatchUp:
    return CatchUp(
        store=w.store,
        policy=policy,
        limit=limit,
        retention=timedelta(days=30),
        overlap=overlap,
        clock=lambda: at(now),
    )


async def stored_live(policy: ReplyPolicy, *items: MessageFacts) -> None:
    for item in items:
        await policy.take(item)


# -- the one late answer --------------------------------------------------------------------


def test_a_backlog_gets_one_answer_its_latest_recent_trigger() -> None:
    choose = CatchUpPolicy(clock=lambda: at(600)).choose
    beats = [BacklogTrigger(trigger(n), at(n)) for n in (100, 500, 520, 590)]
    choice = choose(beats)
    assert choice.answer == beats[-1].trigger
    assert [(t.message_id, why) for t, why in choice.skipped] == [
        (100, "caught up: older than 120 s"),
        (500, "caught up: one answer for the whole backlog"),
        (520, "caught up: one answer for the whole backlog"),
    ]


def test_a_recent_mention_is_answered_before_a_later_beat() -> None:
    choose = CatchUpPolicy(clock=lambda: at(600)).choose
    mention = BacklogTrigger(trigger(530, "mention"), at(530))
    choice = choose([mention, BacklogTrigger(trigger(590), at(590))])
    assert choice.answer == mention.trigger
    assert [t.message_id for t, _ in choice.skipped] == [590]


def test_an_old_backlog_gets_no_late_answer() -> None:
    choose = CatchUpPolicy(clock=lambda: at(600)).choose
    assert choose([]).answer is None
    old = choose([BacklogTrigger(trigger(n, "mention"), at(n)) for n in (10, 479)])
    assert old.answer is None
    assert len(old.skipped) == 2


# -- the window -----------------------------------------------------------------------------


async def test_nothing_stored_at_all_means_nothing_to_catch_up() -> None:
    w = await world()
    catch_up = catch_up_for(w, policy_for(w), now=100)
    assert await catch_up.windows([CHANNEL, THREAD], lambda c: None) == []


async def test_a_limit_of_zero_turns_the_catch_up_off() -> None:
    w = await world()
    policy = policy_for(w)
    await stored_live(policy, facts(1))
    assert await catch_up_for(w, policy, now=100, limit=0).windows([CHANNEL], lambda c: None) == []


async def test_the_window_starts_a_few_stored_messages_before_the_last_seen_one() -> None:
    w = await world()
    policy = policy_for(w)
    await stored_live(policy, *(facts(n) for n in range(1, 11)))
    live = facts(50)
    await stored_live(policy, live)  # arrived live in the new session, before the catch-up
    catch_up = catch_up_for(w, policy, now=100, overlap=3)
    marks = LiveMarks()
    marks.note(CHANNEL, live.message.message_id)
    [window] = await catch_up.windows([CHANNEL], marks.first)
    assert window.last_seen == mid(10)  # not the live message
    assert [m.message_id for m in window.stored] == [mid(8), mid(9), mid(10)]
    assert window.after == mid(8) - 1


async def test_a_channel_never_stored_starts_where_the_bot_last_heard_anything() -> None:
    w = await world()
    policy = policy_for(w)
    await stored_live(policy, facts(1), facts(7))
    [parent, thread] = await catch_up_for(w, policy, now=100).windows(
        [CHANNEL, THREAD], lambda c: None
    )
    assert parent.last_seen == mid(7)
    assert (thread.channel_id, thread.after, thread.last_seen, thread.stored) == (
        THREAD,
        mid(7),
        None,
        (),
    )


async def test_the_window_never_reaches_past_the_retention() -> None:
    w = await world()
    policy = policy_for(w)
    await stored_live(policy, facts(1))
    later = 40 * 86_400  # forty days on
    [window] = await catch_up_for(w, policy, now=later).windows([CHANNEL], lambda c: None)
    assert window.after == first_id_at(at(later) - timedelta(days=30))
    assert window.stored == ()


# -- taking the backlog ---------------------------------------------------------------------


async def test_the_backlog_is_stored_and_counted_in_order_with_one_answer() -> None:
    w = await world()
    policy = policy_for(w)
    before = [facts(n) for n in (1, 2, 3)]
    await stored_live(policy, *before)
    away = [facts(n, author=ALICE + n % 2) for n in range(10, 22)]  # counts 4 to 15
    catch_up = catch_up_for(w, policy, now=60)
    [window] = await catch_up.windows([CHANNEL], lambda c: None)
    report = await catch_up.take(window, history(*before, *away), complete=True)
    assert await w.store.channel_count(CHANNEL) == 15
    stored = await w.store.last_in_channel(CHANNEL, 50)
    assert [m.message_id for m in stored] == [f.message.message_id for f in before + away]
    # Three beats fell in the backlog (counts 5, 10, 15): one decision, for the last.
    assert report.choice.answer is not None
    assert report.choice.answer.message_id == away[-1].message.message_id
    assert report.choice.answer.count == 15
    assert len(report.choice.skipped) == 2
    assert (report.read, report.taken, report.edited, report.deleted) == (15, 12, 0, 0)


async def test_a_message_the_listener_took_live_is_counted_once() -> None:
    w = await world()
    policy = policy_for(w)
    await stored_live(policy, facts(1))
    catch_up = catch_up_for(w, policy, now=60)
    [window] = await catch_up.windows([CHANNEL], lambda c: None)
    missed, live = facts(10), facts(20)
    assert isinstance(await policy.take(live), Skip)  # arrives live during the catch-up
    report = await catch_up.take(window, history(facts(1), missed, live), complete=True)
    assert report.taken == 1
    assert await w.store.channel_count(CHANNEL) == 3
    assert isinstance(await policy.take(live), Skip)  # and its gateway copy once more
    assert await w.store.channel_count(CHANNEL) == 3


async def test_edits_and_deletes_made_while_away_are_applied_inside_the_window() -> None:
    w = await world()
    policy = policy_for(w)
    kept, edited, gone = facts(1), facts(2), facts(3)
    await stored_live(policy, kept, edited, gone)
    catch_up = catch_up_for(w, policy, now=60)
    [window] = await catch_up.windows([CHANNEL], lambda c: None)
    now_edited = replace(
        edited, message=replace(edited.message, content="better words", edited_at=at(30))
    )
    report = await catch_up.take(window, history(kept, now_edited), complete=True)
    assert (report.edited, report.deleted, report.taken) == (1, 1, 0)
    stored = await w.store.last_in_channel(CHANNEL, 10)
    assert [(m.message_id, m.content) for m in stored] == [
        (kept.message.message_id, "said at 1"),
        (edited.message.message_id, "better words"),
    ]
    assert stored[1].edited_at == at(30)
    assert await w.store.channel_count(CHANNEL) == 3  # removing never takes a count back


async def test_a_limited_read_deletes_nothing_it_did_not_read() -> None:
    w = await world()
    policy = policy_for(w)
    await stored_live(policy, facts(1), facts(2))
    catch_up = catch_up_for(w, policy, now=60, limit=2)
    [window] = await catch_up.windows([CHANNEL], lambda c: None)
    newest = [facts(40), facts(41)]  # the limit stopped the read there
    report = await catch_up.take(window, history(*newest), complete=False)
    assert (report.deleted, report.taken, report.complete) == (0, 2, False)
    assert len(await w.store.last_in_channel(CHANNEL, 10)) == 4
    assert "more were left unread" in report.describe()


async def test_what_the_listener_ignores_or_may_not_keep_is_not_kept() -> None:
    w = await world()
    policy = policy_for(w)
    await stored_live(policy, facts(1))
    await w.privacy.opt_out(GUILD, BRUNO)
    catch_up = catch_up_for(w, policy, now=60)
    [window] = await catch_up.windows([CHANNEL], lambda c: None)
    webhook = HistoryMessage(mid(10), None)
    report = await catch_up.take(
        window, [*history(facts(1)), webhook, *history(facts(11, author=BRUNO))], complete=True
    )
    assert report.taken == 1
    assert [m.message_id for m in await w.store.last_in_channel(CHANNEL, 10)] == [mid(1)]
    assert await w.store.channel_count(CHANNEL) == 2  # the opted-out message still counts


async def test_a_backlog_does_not_make_its_author_a_flooder() -> None:
    now = [0.0]
    flood = FloodGuard(messages=3, window=10, decide_every=60, clock=lambda: now[0])
    w = await world()
    policy = policy_for(w, every=2, flood=flood)
    await stored_live(policy, facts(1))
    catch_up = catch_up_for(w, policy, now=60)
    [window] = await catch_up.windows([CHANNEL], lambda c: None)
    report = await catch_up.take(window, history(*(facts(n) for n in range(10, 20))), complete=True)
    assert len(report.choice.skipped) == 4  # five beats, one answered, none "flooding"
    assert not flood.is_flooding(GUILD, ALICE)
    assert isinstance(await policy.take(facts(21, mention=True)), Trigger)  # no cooldown spent


async def test_messages_older_than_the_retention_are_not_taken() -> None:
    w = await world()
    policy = policy_for(w)
    await stored_live(policy, facts(1))
    later = 40 * 86_400
    catch_up = catch_up_for(w, policy, now=later)
    [window] = await catch_up.windows([CHANNEL], lambda c: None)
    report = await catch_up.take(window, history(facts(5), facts(later - 30)), complete=True)
    assert report.taken == 1
    assert report.choice.answer is None  # one message: not a beat


def test_live_marks_keep_the_first_live_message_of_each_channel_per_session() -> None:
    marks = LiveMarks()
    marks.note(CHANNEL, 5)
    marks.note(CHANNEL, 9)
    marks.note(THREAD, 7)
    assert (marks.first(CHANNEL), marks.first(THREAD)) == (5, 7)
    marks.forget(THREAD)
    assert marks.first(THREAD) is None
    marks.new_session()
    assert marks.first(CHANNEL) is None
