"""When the bot considers speaking: every REPLY_EVERY-th human message of a channel.

A message takes its place in the count the moment it arrives (synchronously, so the
order of arrival is the order of the count, however long storing it takes), and the count
is persisted after every message so a restart carries on where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.store import StateStore

_KIND = "channel_count"


@dataclass(frozen=True)
class Beat:
    """One counted message: its position in the channel and whether it is a trigger."""

    channel_id: int
    count: int
    triggers: bool


class ReplyPolicy:
    def __init__(self, state: StateStore, *, every: int) -> None:
        self._state = state
        self._every = every
        self._counts: dict[int, int] = {}
        self._saved: dict[int, int] = {}
        self._lock = asyncio.Lock()

    async def load(self, channel_ids: Iterable[int]) -> None:
        """Read the persisted counts; call once before the first message."""
        for channel_id in channel_ids:
            document = await self._state.get_state(_KIND, str(channel_id)) or {}
            self._counts[channel_id] = self._saved[channel_id] = int(document.get("count", 0))

    def count(self, channel_id: int) -> Beat:
        count = self._counts.get(channel_id, 0) + 1
        self._counts[channel_id] = count
        return Beat(channel_id=channel_id, count=count, triggers=count % self._every == 0)

    async def save(self, channel_id: int) -> None:
        """Persist the channel's count (concurrent calls write each newer value once)."""
        async with self._lock:
            count = self._counts.get(channel_id, 0)
            if self._saved.get(channel_id) != count:
                await self._state.put_state(_KIND, str(channel_id), {"count": count})
                self._saved[channel_id] = count


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

    def note(self, guild_id: int, member_id: int) -> None:
        now = self._clock()
        key = (guild_id, member_id)
        recent = self._recent.setdefault(key, deque(maxlen=self._messages))
        recent.append(now)
        if len(self._recent) > 10_000:  # bounded: forget members quiet for a window
            self._recent = {
                k: times for k, times in self._recent.items() if now - times[-1] < self._window
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
