"""Catching up: what was said in the watched channels while the bot was not listening.

Discord replays nothing to a new gateway session (a start, or a reconnect that could not
RESUME), so after one the bot reads back, for each watched channel and thread, the history it
missed (`commands/catchup.py` fetches it; the rules are here):

- the *last seen* message of a channel is the last one stored before the session's first
  live message there; everything after it is backlog, taken like a live message through
  `ReplyPolicy.take` in its order (stored or counted, a replay of a message the listener
  already took is neither counted nor answered again);
- the window reaches back OVERLAP stored messages before the last seen one, so the history
  shows what changed while away: a stored message edited since is stored with its new text,
  one Discord no longer has is deleted (only inside the part of the window actually read);
- at most `limit` messages per channel are read, the newest, and never older than the
  retention;
- a channel where nothing was ever stored starts after the newest message the bot heard
  anywhere (a thread created while away); with nothing stored at all there is nothing to
  catch up (a first start does not import the past);
- of the backlog's triggers, at most one gets a decision, and only a recent one (`RECENT`):
  the others are skipped with their reason, so a reconnect never brings a burst of late
  replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.conversation.reply_policy import MessageFacts, ReplyPolicy, Skip, Trigger
from services.discord_ids import first_id_at
from services.store import MessageStore, StoredMessage

# Stored messages before the last seen one that the history is compared with.
OVERLAP = 50
# A trigger of the backlog older than this gets no late answer.
RECENT = timedelta(minutes=2)


class LiveMarks:
    """The first message of each channel that arrived live in the current gateway session:
    the listener notes it before taking it, so the catch-up knows where live begins."""

    def __init__(self) -> None:
        self._first: dict[int, int] = {}

    def new_session(self) -> None:
        self._first.clear()

    def note(self, channel_id: int, message_id: int) -> None:
        self._first.setdefault(channel_id, message_id)

    def first(self, channel_id: int) -> int | None:
        return self._first.get(channel_id)

    def forget(self, channel_id: int) -> None:
        self._first.pop(channel_id, None)


@dataclass(frozen=True)
class BacklogTrigger:
    trigger: Trigger
    created_at: datetime


@dataclass(frozen=True)
class CatchUpChoice:
    """The one trigger of a backlog that gets a decision (if any), and why the others do not."""

    answer: Trigger | None
    skipped: tuple[tuple[Trigger, str], ...] = ()


class CatchUpPolicy:
    """At most one decision for a whole backlog: its latest recent mention, else its latest
    recent trigger. A member who asked the bot something a minute ago is answered; a beat
    that fell an hour ago is not."""

    def __init__(
        self, *, recent: timedelta = RECENT, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._recent = recent
        self._clock = clock or (lambda: datetime.now(UTC))

    def choose(self, triggers: Sequence[BacklogTrigger]) -> CatchUpChoice:
        now = self._clock()
        recent = [t for t in triggers if now - t.created_at < self._recent]
        mentions = [t for t in recent if t.trigger.reason == "mention"]
        chosen = (mentions or recent)[-1] if recent else None
        skipped: list[tuple[Trigger, str]] = []
        for backlog in triggers:
            if backlog is chosen:
                continue
            if backlog in recent:
                reason = "caught up: one answer for the whole backlog"
            else:
                reason = f"caught up: older than {self._recent.total_seconds():g} s"
            skipped.append((backlog.trigger, reason))
        return CatchUpChoice(chosen.trigger if chosen else None, tuple(skipped))


@dataclass(frozen=True)
class Window:
    """What to read back for one channel, and what is known of it."""

    channel_id: int
    after: int  # the history is read above this id
    last_seen: int | None  # messages above it are backlog; None: every message read is
    stored: tuple[StoredMessage, ...]  # the stored messages inside the window, to compare


@dataclass(frozen=True)
class HistoryMessage:
    """One message of the history, as the listener sees it."""

    message_id: int
    facts: MessageFacts | None  # None: not chat (a bot, a webhook, a system message): ignored


@dataclass(frozen=True)
class CatchUpReport:
    channel_id: int
    read: int  # messages of the history read
    taken: int  # backlog messages stored or counted (not the ones the listener had taken)
    edited: int
    deleted: int
    complete: bool  # False: the limit stopped the reading before the window's start
    choice: CatchUpChoice

    def describe(self) -> str:
        gap = "" if self.complete else ", more were left unread"
        answer = self.choice.answer
        return (
            f"channel {self.channel_id}: read {self.read}, took {self.taken}, edited "
            f"{self.edited}, deleted {self.deleted}{gap}; "
            + (f"answering message {answer.message_id}" if answer else "no late answer")
            + f", {len(self.choice.skipped)} trigger(s) skipped"
        )


class CatchUp:
    def __init__(
        self,
        *,
        store: MessageStore,
        policy: ReplyPolicy,
        limit: int,
        retention: timedelta,
        choice: CatchUpPolicy | None = None,
        overlap: int = OVERLAP,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        self.limit = limit  # messages read per channel at most; 0: no catch-up
        self._retention = retention
        self._choice = choice or CatchUpPolicy(clock=clock)
        self._overlap = overlap
        self._clock = clock or (lambda: datetime.now(UTC))

    async def last_seen(self, channel_id: int, *, live_since: int | None) -> int | None:
        """The last message of the channel stored before the session's first live one."""
        up_to = live_since - 1 if live_since is not None else None
        last = await self._store.last_in_channel(channel_id, 1, up_to=up_to)
        return last[0].message_id if last else None

    async def windows(
        self, channels: Iterable[int], live_since: Callable[[int], int | None]
    ) -> list[Window]:
        """The windows of the channels (in their order), those with nothing to catch up left
        out. `live_since(channel)`: the id of its first live message this session, if any."""
        if self.limit <= 0:
            return []
        channel_ids = list(channels)
        seen = {c: await self.last_seen(c, live_since=live_since(c)) for c in channel_ids}
        heard = max((s for s in seen.values() if s is not None), default=None)
        if heard is None:
            return []  # nothing was ever stored: a first start does not import the past
        oldest = first_id_at(self._clock() - self._retention)
        windows: list[Window] = []
        for channel_id in channel_ids:
            last = seen[channel_id]
            if last is None:  # e.g. a thread created while away
                windows.append(Window(channel_id, max(heard, oldest), None, ()))
                continue
            kept = await self._store.last_in_channel(channel_id, self._overlap, up_to=last)
            after = max(kept[0].message_id - 1, oldest)
            inside = tuple(m for m in kept if m.message_id > after)
            windows.append(Window(channel_id, after, last, inside))
        return windows

    async def take(
        self, window: Window, history: Sequence[HistoryMessage], *, complete: bool
    ) -> CatchUpReport:
        """Apply the history read for `window` (its messages above `window.after`, oldest
        first; `complete`: it reaches back to `window.after`, the limit did not stop it)."""
        read_from = window.after if complete or not history else history[0].message_id - 1
        by_id = {h.message_id: h for h in history}
        edited = deleted = 0
        for stored in window.stored:
            if stored.message_id <= read_from:
                continue  # not read: nothing is known about it
            now = by_id.get(stored.message_id)
            if now is None:
                deleted += await self._store.delete(stored.message_id)
            elif now.facts is not None and now.facts.message.content != stored.content:
                message = now.facts.message
                edited_at = message.edited_at or message.created_at
                edited += await self._store.edit(message.message_id, message.content, edited_at)
        oldest = self._clock() - self._retention
        backlog = [
            h.facts
            for h in history
            if h.facts is not None
            and (window.last_seen is None or h.message_id > window.last_seen)
            and h.facts.message.created_at >= oldest
        ]
        # Together, in order: the store counts them in call order and shares its writes.
        steps = await asyncio.gather(*(self._policy.take(f, live=False) for f in backlog))
        triggers = [
            BacklogTrigger(step, facts.message.created_at)
            for step, facts in zip(steps, backlog, strict=True)
            if isinstance(step, Trigger)
        ]
        return CatchUpReport(
            channel_id=window.channel_id,
            read=len(history),
            taken=sum(1 for s in steps if not (isinstance(s, Skip) and s.reason == "replay")),
            edited=edited,
            deleted=deleted,
            complete=complete,
            choice=self._choice.choose(triggers),
        )
