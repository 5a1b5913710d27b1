"""What the rest of the bot sees of its memory: dataclasses and small protocols."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StoredMessage:
    message_id: int
    guild_id: int
    channel_id: int
    author_id: int
    author_name: str
    content: str
    created_at: datetime
    from_bot: bool = False
    edited_at: datetime | None = None


class MessageStore(Protocol):
    """What the bot needs from its message memory. Lists are oldest first."""

    async def add(self, message: StoredMessage) -> None: ...

    async def edit(self, message_id: int, content: str, edited_at: datetime) -> bool: ...

    async def delete(self, message_id: int) -> bool: ...

    async def last_in_channel(
        self, channel_id: int, limit: int, *, up_to: int | None = None
    ) -> list[StoredMessage]:
        """The last `limit` messages of the channel, ending at message id `up_to` if given."""
        ...

    async def last_by_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[StoredMessage]: ...

    async def count_since(
        self,
        guild_id: int,
        since: datetime,
        *,
        channel_id: int | None = None,
        author_id: int | None = None,
    ) -> int: ...

    async def forget_author(self, guild_id: int, author_id: int) -> int: ...

    async def delete_older_than(self, cutoff: datetime) -> int: ...


class StateStore(Protocol):
    """Small JSON documents by (kind, key): counters, profiles, settings, queues."""

    async def get_state(self, kind: str, key: str) -> dict[str, Any] | None: ...

    async def put_state(self, kind: str, key: str, document: dict[str, Any]) -> None: ...

    async def delete_state(self, kind: str, key: str) -> bool: ...

    async def state_keys(self, kind: str) -> list[str]: ...


class ContentCipher(Protocol):
    """Encryption at rest: what members wrote is sealed before it reaches a file.

    `seal` and `open` must round-trip any string; the sealed form must be a string too
    (it is stored inside JSON documents).
    """

    def seal(self, plain: str) -> str: ...

    def open(self, sealed: str) -> str: ...
