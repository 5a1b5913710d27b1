"""When the bot considers speaking: every REPLY_EVERY-th human message of a channel.

A message takes its place in the count the moment it arrives (synchronously, so the
order of arrival is the order of the count, however long storing it takes), and the count
is persisted after every message so a restart carries on where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
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
