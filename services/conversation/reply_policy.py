"""When the bot considers speaking: the one place that orders the rules.

For each message of a watched channel, `ReplyPolicy.take` stores it (or only counts it, for a
member who opted out), then decides, in this order:

1. the bot's own message: context for later, never counted or answered;
2. a gateway replay of a message already counted: nothing more;
3. a member addressing the bot (a mention, or a reply to it), unless they opted out, and at
   most once per MENTION_COOLDOWN_SECONDS per member: answered now;
4. every Nth counted message of the channel (the beat; N is the channel's pace, the server's,
   or REPLY_EVERY, see `services/servers/settings.py`): a decision, unless its author is
   flooding the channel; a channel paced "mentions-only" has no beat;
5. anything else: no decision.

The count is the store's, bumped in the same durable write as the message and in call order,
so arrival order is the count order and a restart carries on where it stopped. Nothing here
awaits before the store is called, which keeps that order.

A message read back from the history after a fresh gateway session (`live=False`,
see `services/conversation/catch_up.py`) takes the same path, except that it says nothing
about the pace of its author now (no flood bookkeeping) and spends no mention cooldown: the
catch-up answers at most one trigger of its whole backlog.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from services.cooldown import Cooldown
from services.privacy.privacy import PrivacyService
from services.store import MessageStore, StoredMessage, StoreOutageError
from services.telemetry import NO_TELEMETRY, Telemetry

Reason = Literal["beat", "mention"]
SkipReason = Literal[
    "own message", "replay", "not a beat", "mentions only", "flooding", "not stored"
]
# A channel's beat from memory, by (guild, channel, parent channel of a thread or forum post):
# every Nth message, or None for mentions only.
PaceLookup = Callable[[int, int, int | None], int | None]


@dataclass(frozen=True)
class RepliedMessage:
    """The message a member's message replies to, as Discord sent it with the reply."""

    message_id: int
    author_id: int
    author_name: str
    content: str
    from_bot: bool


@dataclass(frozen=True)
class Trigger:
    """A message the bot considers answering, and why."""

    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    reason: Reason
    count: int | None = None  # the message's position in the channel, for beats
    # False when the author opted out: the bot may still speak to the channel, not to them.
    answer_author: bool = True
    replied_to: RepliedMessage | None = None  # what the trigger answers, if it is a reply
    parent_id: int | None = None  # the channel of a thread or forum post: its settings apply


@dataclass(frozen=True)
class Skip:
    """A message that gets no decision, and why."""

    message_id: int
    reason: SkipReason
    count: int | None = None


@dataclass(frozen=True)
class MessageFacts:
    """What the policy needs to know about a message beyond what is stored."""

    message: StoredMessage
    addresses_bot: bool  # mentions the bot, or replies to one of its messages
    replied_to: RepliedMessage | None = None
    parent_id: int | None = None  # the channel a thread or forum post belongs to


class ReplyPolicy:
    def __init__(
        self,
        *,
        store: MessageStore,
        privacy: PrivacyService,
        every: int,
        mention_cooldown: Cooldown,
        flood: FloodGuard,
        telemetry: Telemetry = NO_TELEMETRY,
        pace: PaceLookup | None = None,
    ) -> None:
        self._pace = pace  # None: `every` everywhere
        self._telemetry = telemetry  # a beat skipped for a flood is a decision, "skipped"
        self._store = store
        self._privacy = privacy
        self._every = every
        self._mention_cooldown = mention_cooldown
        self._flood = flood

    async def take(self, facts: MessageFacts, *, live: bool = True) -> Trigger | Skip:
        """Store (or count) the message, then decide; durable before it returns.

        `live=False`: a message of the backlog a catch-up reads back, not one arriving now."""
        message = facts.message
        try:
            if message.from_bot:
                await self._store.add(message, counted=False)
                return Skip(message.message_id, "own message")
            kept = self._privacy.may_store(message.guild_id, message.author_id)
            if kept:
                arrival = await self._store.add(message, counted=True)
            else:
                arrival = await self._store.count(message.channel_id, message.message_id)
        except StoreOutageError:
            # The store logged the outage once and the health file says why: the listener
            # goes on reading, and answers nothing it could not store.
            return Skip(message.message_id, "not stored")
        if not arrival.new or arrival.count is None:
            return Skip(message.message_id, "replay")
        member = (message.guild_id, message.author_id)
        if live:
            self._flood.note(*member)
        if (
            kept
            and facts.addresses_bot
            and (not live or self._mention_cooldown.try_acquire(member))
        ):
            return self._trigger(facts, "mention", arrival.count, answer_author=True)
        every = (
            self._every
            if self._pace is None
            else self._pace(message.guild_id, message.channel_id, facts.parent_id)
        )
        if every is None:
            return Skip(message.message_id, "mentions only", arrival.count)
        if arrival.count % every != 0:
            return Skip(message.message_id, "not a beat", arrival.count)
        if live and not self._flood.admits(*member):
            self._telemetry.reply_decision("skipped")
            return Skip(message.message_id, "flooding", arrival.count)
        return self._trigger(facts, "beat", arrival.count, answer_author=kept)

    @staticmethod
    def _trigger(
        facts: MessageFacts, reason: Reason, count: int, *, answer_author: bool
    ) -> Trigger:
        message = facts.message
        return Trigger(
            guild_id=message.guild_id,
            channel_id=message.channel_id,
            message_id=message.message_id,
            author_id=message.author_id,
            reason=reason,
            count=count,
            answer_author=answer_author,
            replied_to=facts.replied_to,
            parent_id=facts.parent_id,
        )


class FloodGuard:
    """Keeps one member's flood from costing an Azure call every fifth message.

    A member who wrote `messages` or more in the last `window` seconds (by default 10 in 10 s,
    a pace no conversation keeps up) is flooding; their triggers then get a decision at most
    once per `decide_every` seconds. Their messages are still stored and counted, and
    everyone else is unaffected.
    """

    def __init__(
        self,
        *,
        messages: int = 10,
        window: float = 10.0,
        decide_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._messages = messages
        self._window = window
        self._decide_every = decide_every
        self._clock = clock
        self._recent: dict[tuple[int, int], deque[float]] = {}
        self._last_flood_decision: dict[tuple[int, int], float] = {}
        self._pruned_at = clock()

    @property
    def members_tracked(self) -> int:
        return len(self._recent) + len(self._last_flood_decision)

    def note(self, guild_id: int, member_id: int) -> None:
        now = self._clock()
        key = (guild_id, member_id)
        recent = self._recent.setdefault(key, deque(maxlen=self._messages))
        recent.append(now)
        if now - self._pruned_at >= self._window:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget the marks that no longer count (at most once per window): members quiet for
        a window, and flood decisions older than `decide_every`, so that every member who
        ever wrote does not stay in memory."""
        self._pruned_at = now
        self._recent = {k: t for k, t in self._recent.items() if now - t[-1] < self._window}
        self._last_flood_decision = {
            k: at for k, at in self._last_flood_decision.items() if now - at < self._decide_every
        }

    def is_flooding(self, guild_id: int, member_id: int) -> bool:
        recent = self._recent.get((guild_id, member_id))
        return (
            recent is not None
            and len(recent) >= self._messages
            and self._clock() - recent[0] < self._window
        )

    def admits(self, guild_id: int, member_id: int) -> bool:
        """Whether a trigger by this member gets a decision now."""
        if not self.is_flooding(guild_id, member_id):
            return True
        key, now = (guild_id, member_id), self._clock()
        if now - self._last_flood_decision.get(key, -self._decide_every) < self._decide_every:
            return False
        self._last_flood_decision[key] = now
        return True
