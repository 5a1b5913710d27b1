"""A store that reports how long each of its calls takes, and each new message it keeps.

It wraps any implementation of the message, state and usage ports and changes nothing else, so
the composition root measures the embedded store, PostgreSQL or the in-memory one alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime
from typing import Protocol

from services.store.model import (
    Arrival,
    Document,
    MessageStore,
    StateKind,
    StateStore,
    StoredMessage,
    UsageRow,
    UsageStore,
)
from services.telemetry import Telemetry


class Store(MessageStore, StateStore, UsageStore, Protocol):
    """The message, state and usage ports, as every store implements them."""


class MeasuredStore:
    def __init__(self, inner: Store, telemetry: Telemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    def _took(self, operation: str, started: float) -> None:
        self._telemetry.store_operation(operation, time.perf_counter() - started)

    # -- MessageStore

    async def add(self, message: StoredMessage, *, counted: bool) -> Arrival:
        started = time.perf_counter()
        try:
            arrival = await self._inner.add(message, counted=counted)
        finally:
            self._took("add", started)
        if arrival.new:
            self._telemetry.message_stored()
        return arrival

    async def count(self, channel_id: int, message_id: int) -> Arrival:
        started = time.perf_counter()
        try:
            return await self._inner.count(channel_id, message_id)
        finally:
            self._took("count", started)

    async def channel_count(self, channel_id: int) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.channel_count(channel_id)
        finally:
            self._took("channel_count", started)

    async def edit(self, message_id: int, content: str, edited_at: datetime) -> bool:
        started = time.perf_counter()
        try:
            return await self._inner.edit(message_id, content, edited_at)
        finally:
            self._took("edit", started)

    async def delete(self, message_id: int) -> bool:
        started = time.perf_counter()
        try:
            return await self._inner.delete(message_id)
        finally:
            self._took("delete", started)

    async def delete_many(self, message_ids: Sequence[int]) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.delete_many(message_ids)
        finally:
            self._took("delete_many", started)

    async def last_in_channel(
        self, channel_id: int, limit: int, *, up_to: int | None = None
    ) -> list[StoredMessage]:
        started = time.perf_counter()
        try:
            return await self._inner.last_in_channel(channel_id, limit, up_to=up_to)
        finally:
            self._took("last_in_channel", started)

    async def last_by_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[StoredMessage]:
        started = time.perf_counter()
        try:
            return await self._inner.last_by_author(guild_id, author_id, limit)
        finally:
            self._took("last_by_author", started)

    async def forget_author(self, guild_id: int, author_id: int) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.forget_author(guild_id, author_id)
        finally:
            self._took("forget_author", started)

    async def delete_older_than(self, cutoff: datetime) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.delete_older_than(cutoff)
        finally:
            self._took("delete_older_than", started)

    async def messages_of_author(
        self, author_id: int, *, after: int = 0, limit: int
    ) -> list[StoredMessage]:
        started = time.perf_counter()
        try:
            return await self._inner.messages_of_author(author_id, after=after, limit=limit)
        finally:
            self._took("messages_of_author", started)

    async def forget_author_everywhere(self, author_id: int) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.forget_author_everywhere(author_id)
        finally:
            self._took("forget_author_everywhere", started)

    async def forget_guild(self, guild_id: int, channel_ids: Collection[int] = ()) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.forget_guild(guild_id, channel_ids)
        finally:
            self._took("forget_guild", started)

    async def guilds_with_messages(self) -> set[int]:
        started = time.perf_counter()
        try:
            return await self._inner.guilds_with_messages()
        finally:
            self._took("guilds_with_messages", started)

    async def close(self) -> None:
        await self._inner.close()

    # -- StateStore

    async def get_state(self, kind: StateKind, key: str) -> Document | None:
        started = time.perf_counter()
        try:
            return await self._inner.get_state(kind, key)
        finally:
            self._took("get_state", started)

    async def put_state(self, kind: StateKind, key: str, document: Document) -> None:
        started = time.perf_counter()
        try:
            await self._inner.put_state(kind, key, document)
        finally:
            self._took("put_state", started)

    async def update_state(
        self, kind: StateKind, key: str, change: Callable[[Document | None], Document | None]
    ) -> Document | None:
        started = time.perf_counter()
        try:
            return await self._inner.update_state(kind, key, change)
        finally:
            self._took("update_state", started)

    async def delete_state(self, kind: StateKind, key: str) -> bool:
        started = time.perf_counter()
        try:
            return await self._inner.delete_state(kind, key)
        finally:
            self._took("delete_state", started)

    async def state_items(self, kind: StateKind) -> list[tuple[str, Document]]:
        started = time.perf_counter()
        try:
            return await self._inner.state_items(kind)
        finally:
            self._took("state_items", started)

    # -- UsageStore

    async def add_usage(self, usage: UsageRow) -> None:
        started = time.perf_counter()
        try:
            await self._inner.add_usage(usage)
        finally:
            self._took("add_usage", started)

    async def usage_for(self, guild_id: int, since: date) -> list[UsageRow]:
        started = time.perf_counter()
        try:
            return await self._inner.usage_for(guild_id, since)
        finally:
            self._took("usage_for", started)

    async def delete_usage_before(self, day: date) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.delete_usage_before(day)
        finally:
            self._took("delete_usage_before", started)

    async def forget_member_usage(self, guild_id: int, member_id: int) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.forget_member_usage(guild_id, member_id)
        finally:
            self._took("forget_member_usage", started)

    async def usage_of_member(self, member_id: int) -> list[UsageRow]:
        started = time.perf_counter()
        try:
            return await self._inner.usage_of_member(member_id)
        finally:
            self._took("usage_of_member", started)

    async def forget_member_usage_everywhere(self, member_id: int) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.forget_member_usage_everywhere(member_id)
        finally:
            self._took("forget_member_usage_everywhere", started)

    async def forget_guild_usage(self, guild_id: int) -> int:
        started = time.perf_counter()
        try:
            return await self._inner.forget_guild_usage(guild_id)
        finally:
            self._took("forget_guild_usage", started)

    async def guilds_with_usage(self) -> set[int]:
        started = time.perf_counter()
        try:
            return await self._inner.guilds_with_usage()
        finally:
            self._took("guilds_with_usage", started)
