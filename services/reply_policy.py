"""When the bot considers speaking: every REPLY_EVERY-th human message of a channel.

The count is persisted on every message so a restart carries on where it stopped, and taken
under a lock so concurrent messages never skip or repeat a beat.
"""

from __future__ import annotations

import asyncio
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
        self._lock = asyncio.Lock()

    async def observe(self, channel_id: int) -> Beat:
        async with self._lock:
            document = await self._state.get_state(_KIND, str(channel_id)) or {}
            count = int(document.get("count", 0)) + 1
            await self._state.put_state(_KIND, str(channel_id), {"count": count})
        return Beat(channel_id=channel_id, count=count, triggers=count % self._every == 0)
