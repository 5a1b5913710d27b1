"""`MemoryStore`: the store ports in plain dicts, for unit tests and as the reference the
contract suite holds the durable stores to. Nothing survives the process.

`MemoryLeases` is the lease port in a dict, on an injectable clock: the unit tests' leases, and
the bot's when it runs as one process on the embedded store (nobody else to share them with).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import date, datetime

from services.store.model import (
    Arrival,
    Document,
    LeaseHolder,
    StateKind,
    StoredMessage,
    UsageRow,
)


class MemoryLeases:
    """`LeaseStore` in memory; `clock` (seconds, monotonic) decides what has expired."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._leases: dict[str, tuple[str, float]] = {}  # name -> (owner, expires at)

    async def try_acquire(self, name: str, owner: str, ttl_seconds: float) -> bool:
        now = self._clock()
        held = self._leases.get(name)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._leases[name] = (owner, now + ttl_seconds)
        return True

    async def release(self, name: str, owner: str) -> None:
        held = self._leases.get(name)
        if held is not None and held[0] == owner:
            del self._leases[name]

    async def lease_holder(self, name: str) -> LeaseHolder | None:
        held = self._leases.get(name)
        now = self._clock()
        if held is None or held[1] <= now:
            return None
        return LeaseHolder(owner=held[0], seconds_left=held[1] - now)


class MemoryStore(MemoryLeases):
    """The message, state, usage and lease ports, in memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self._messages: dict[int, StoredMessage] = {}
        self._counts: dict[int, int] = {}
        self._counted: set[int] = set()  # ids already counted: a replay counts once
        self._state: dict[StateKind, dict[str, Document]] = {}
        self._usage: dict[tuple[date, int, int, int, str], UsageRow] = {}
        self._lock = asyncio.Lock()

    # -- messages ---------------------------------------------------------------------------

    def _bump(self, channel_id: int, message_id: int) -> Arrival:
        if message_id in self._counted:
            return Arrival(new=False, count=None)
        self._counted.add(message_id)
        self._counts[channel_id] = self._counts.get(channel_id, 0) + 1
        return Arrival(new=True, count=self._counts[channel_id])

    async def add(self, message: StoredMessage, *, counted: bool) -> Arrival:
        new = message.message_id not in self._messages
        if new:  # a replay changes nothing: an edit since must not be undone
            self._messages[message.message_id] = message
        if counted and new:  # a message already stored is not counted again
            arrival = self._bump(message.channel_id, message.message_id)
            return Arrival(new=new, count=arrival.count)
        return Arrival(new=new, count=None)

    async def count(self, channel_id: int, message_id: int) -> Arrival:
        return self._bump(channel_id, message_id)

    async def channel_count(self, channel_id: int) -> int:
        return self._counts.get(channel_id, 0)

    async def edit(self, message_id: int, content: str, edited_at: datetime) -> bool:
        message = self._messages.get(message_id)
        if message is None:
            return False
        self._messages[message_id] = replace(message, content=content, edited_at=edited_at)
        return True

    async def delete(self, message_id: int) -> bool:
        return self._messages.pop(message_id, None) is not None

    async def delete_many(self, message_ids: Sequence[int]) -> int:
        return sum(self._messages.pop(i, None) is not None for i in set(message_ids))

    def _ordered(self) -> list[StoredMessage]:
        return sorted(self._messages.values(), key=lambda m: m.message_id)

    async def last_in_channel(
        self, channel_id: int, limit: int, *, up_to: int | None = None
    ) -> list[StoredMessage]:
        found = [
            m
            for m in self._ordered()
            if m.channel_id == channel_id and (up_to is None or m.message_id <= up_to)
        ]
        return found[-limit:] if limit > 0 else []

    async def last_by_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[StoredMessage]:
        found = [m for m in self._ordered() if (m.guild_id, m.author_id) == (guild_id, author_id)]
        return found[-limit:] if limit > 0 else []

    async def forget_author(self, guild_id: int, author_id: int) -> int:
        gone = [
            m.message_id
            for m in self._messages.values()
            if (m.guild_id, m.author_id) == (guild_id, author_id)
        ]
        for message_id in gone:
            del self._messages[message_id]
        return len(gone)

    async def delete_older_than(self, cutoff: datetime) -> int:
        gone = [m.message_id for m in self._messages.values() if m.created_at < cutoff]
        for message_id in gone:
            del self._messages[message_id]
        return len(gone)

    async def messages_of_author(
        self, author_id: int, *, after: int = 0, limit: int
    ) -> list[StoredMessage]:
        found = [m for m in self._ordered() if m.author_id == author_id and m.message_id > after]
        return found[:limit] if limit > 0 else []

    async def forget_author_everywhere(self, author_id: int) -> int:
        gone = [m.message_id for m in self._messages.values() if m.author_id == author_id]
        for message_id in gone:
            del self._messages[message_id]
        return len(gone)

    async def forget_guild(self, guild_id: int, channel_ids: Collection[int] = ()) -> int:
        gone = [m for m in self._messages.values() if m.guild_id == guild_id]
        channels = {m.channel_id for m in gone} | set(channel_ids)
        for message in gone:
            del self._messages[message.message_id]
        for channel_id in channels:
            self._counts.pop(channel_id, None)
        # Counted ids carry no channel here: those of the guild's stored messages go.
        self._counted.difference_update(m.message_id for m in gone)
        return len(gone)

    async def guilds_with_messages(self) -> set[int]:
        return {m.guild_id for m in self._messages.values()}

    async def close(self) -> None:
        return None

    # -- state ------------------------------------------------------------------------------

    async def get_state(self, kind: StateKind, key: str) -> Document | None:
        document = self._state.get(kind, {}).get(key)
        return copy.deepcopy(document) if document is not None else None

    async def put_state(self, kind: StateKind, key: str, document: Document) -> None:
        self._state.setdefault(kind, {})[key] = copy.deepcopy(document)

    async def update_state(
        self, kind: StateKind, key: str, change: Callable[[Document | None], Document | None]
    ) -> Document | None:
        async with self._lock:
            changed = change(await self.get_state(kind, key))
            if changed is None:
                await self.delete_state(kind, key)
            else:
                await self.put_state(kind, key, changed)
            return copy.deepcopy(changed)

    async def delete_state(self, kind: StateKind, key: str) -> bool:
        return self._state.get(kind, {}).pop(key, None) is not None

    async def state_items(self, kind: StateKind) -> list[tuple[str, Document]]:
        return [(key, copy.deepcopy(doc)) for key, doc in self._state.get(kind, {}).items()]

    # -- usage ------------------------------------------------------------------------------

    async def add_usage(self, usage: UsageRow) -> None:
        stored = self._usage.get(usage.key)
        if stored is not None:
            usage = replace(
                stored,
                prompt=stored.prompt + usage.prompt,
                completion=stored.completion + usage.completion,
                cached=stored.cached + usage.cached,
                calls=stored.calls + usage.calls,
            )
        self._usage[usage.key] = usage

    async def usage_for(self, guild_id: int, since: date) -> list[UsageRow]:
        rows = [u for u in self._usage.values() if u.guild_id == guild_id and u.day >= since]
        return sorted(rows, key=lambda u: (u.day, u.channel_id, u.member_id, u.kind))

    async def delete_usage_before(self, day: date) -> int:
        gone = [key for key, usage in self._usage.items() if usage.day < day]
        for key in gone:
            del self._usage[key]
        return len(gone)

    async def usage_of_member(self, member_id: int) -> list[UsageRow]:
        rows = [u for u in self._usage.values() if u.member_id == member_id]
        return sorted(rows, key=lambda u: (u.day, u.guild_id, u.channel_id, u.kind))

    async def forget_member_usage_everywhere(self, member_id: int) -> int:
        return self._drop_usage(lambda usage: usage.member_id == member_id)

    async def forget_guild_usage(self, guild_id: int) -> int:
        return self._drop_usage(lambda usage: usage.guild_id == guild_id)

    async def guilds_with_usage(self) -> set[int]:
        return {u.guild_id for u in self._usage.values()}

    def _drop_usage(self, matches: Callable[[UsageRow], bool]) -> int:
        gone = [key for key, usage in self._usage.items() if matches(usage)]
        for key in gone:
            del self._usage[key]
        return len(gone)

    async def forget_member_usage(self, guild_id: int, member_id: int) -> int:
        gone = [
            key
            for key, usage in self._usage.items()
            if (usage.guild_id, usage.member_id) == (guild_id, member_id)
        ]
        for key in gone:
            del self._usage[key]
        return len(gone)
