"""What the rest of the bot sees of its memory: dataclasses and small protocols.

Three ports, each implemented by every store (the embedded `SqliteStore`, `PostgresStore`, and
the in-memory one the unit tests use) and checked by one contract suite
(`tests/store_contract.py`):

- `MessageStore`: the messages of the watched channels, and each channel's beat count, which
  rides in the same durable write as the message it counts.
- `StateStore`: small versioned documents of a closed set of kinds, read and changed by the
  typed repositories (one per kind, in the module that owns it; see `services/state.py`),
  never by anyone else.
- `LeaseStore`: named leases with an expiry, shared by the processes on one store.
- `UsageStore`: the Azure tokens spent, per UTC day, server, channel, member and kind of call;
  additive counters (ids and counts, never text).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol


class StoreOutageError(Exception):
    """The store cannot take writes now (a full or failing disk, a database out of reach):
    nothing of the call that raised it is stored. The store logs the outage once; callers
    go on without what they could not store."""


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """A file attached to a message, described, never its bytes: its name and type (what the
    model is told), the size Discord declared and the link Discord gave (signed, expiring), so
    that a decision can fetch an image of its context while the link still works."""

    filename: str
    content_type: str | None
    size: int = 0
    url: str = ""


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
    attachments: tuple[StoredAttachment, ...] = ()


def attachments_text(attachments: Sequence[StoredAttachment]) -> str | None:
    """The attachments as the stores keep them in one text column (sealed like the content
    when the store has a key): JSON, or None for a message without any."""
    if not attachments:
        return None
    return json.dumps(
        [
            {"name": a.filename, "type": a.content_type, "size": a.size, "url": a.url}
            for a in attachments
        ],
        separators=(",", ":"),
    )


def attachments_from_text(text: str | None) -> tuple[StoredAttachment, ...]:
    """The inverse of `attachments_text`."""
    if not text:
        return ()
    return tuple(
        StoredAttachment(
            filename=str(item["name"]),
            content_type=item.get("type"),
            size=int(item.get("size") or 0),
            url=str(item.get("url") or ""),
        )
        for item in json.loads(text)
    )


@dataclass(frozen=True, slots=True)
class Arrival:
    """What `add` and `count` did with one message."""

    new: bool  # False: the message was already there (a gateway replay), nothing changed
    count: int | None  # the channel's beat count after it; None when it was not counted


class MessageStore(Protocol):
    """What the bot needs from its message memory. Lists are oldest first.

    Read-your-writes, in call order per channel: when `add` (or `count`) returns, that message
    and every message of the same channel whose `add` was called before it are durable and
    visible to every read. So when a trigger's `add` returns, its context is complete, and a
    channel's counts follow the order of the calls. `add` of a message id already stored
    changes nothing (`new` False): a stale gateway replay never undoes an edit; `edit` does.
    """

    async def add(self, message: StoredMessage, *, counted: bool) -> Arrival:
        """Store the message (durable when it returns). With `counted`, bump its channel's
        beat count in the same write, unless the message id was already stored."""
        ...

    async def count(self, channel_id: int, message_id: int) -> Arrival:
        """Count a message that is not kept (its author opted out): only the count is stored."""
        ...

    async def channel_count(self, channel_id: int) -> int: ...

    async def edit(self, message_id: int, content: str, edited_at: datetime) -> bool: ...

    async def delete(self, message_id: int) -> bool: ...

    async def delete_many(self, message_ids: Sequence[int]) -> int:
        """Remove the messages of these ids, in one write; returns how many were stored."""
        ...

    async def last_in_channel(
        self, channel_id: int, limit: int, *, up_to: int | None = None
    ) -> list[StoredMessage]:
        """The last `limit` messages of the channel, ending at message id `up_to` if given."""
        ...

    async def last_by_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[StoredMessage]: ...

    async def forget_author(self, guild_id: int, author_id: int) -> int:
        """Remove every message of the author in the guild; returns how many."""
        ...

    async def delete_older_than(self, cutoff: datetime) -> int: ...

    async def messages_of_author(
        self, author_id: int, *, after: int = 0, limit: int
    ) -> list[StoredMessage]:
        """The author's messages in every guild with an id above `after`, oldest first, at most
        `limit`: a member's export reads them a page at a time."""
        ...

    async def forget_author_everywhere(self, author_id: int) -> int:
        """Remove every message of the author in every guild; returns how many."""
        ...

    async def forget_guild(self, guild_id: int, channel_ids: Collection[int] = ()) -> int:
        """Remove every message of the guild, and the beat counts (and counted ids) of its
        channels: those its messages were in, and `channel_ids`; returns how many messages."""
        ...

    async def guilds_with_messages(self) -> set[int]:
        """The guilds of which at least one message is stored."""
        ...

    async def close(self) -> None: ...


# The kinds of state document; each is owned by one repository (`services/state.py` says which).
StateKind = Literal[
    "persona", "privacy", "guild_settings", "music_queue", "bot_replies", "server_departure"
]
STATE_KINDS: tuple[StateKind, ...] = (
    "persona",
    "privacy",
    "guild_settings",
    "music_queue",
    "bot_replies",
    "server_departure",
)
Document = dict[str, Any]


class StateStore(Protocol):
    """Small JSON documents by (kind, key). Documents are opaque here: the repositories give
    them their version and shape. `update` is the one way to read-modify-write, atomically."""

    async def get_state(self, kind: StateKind, key: str) -> Document | None: ...

    async def put_state(self, kind: StateKind, key: str, document: Document) -> None: ...

    async def update_state(
        self, kind: StateKind, key: str, change: Callable[[Document | None], Document | None]
    ) -> Document | None:
        """Apply `change` to the stored document (None: there is none) and store what it
        returns (None: delete it), with no other write to that key in between."""
        ...

    async def delete_state(self, kind: StateKind, key: str) -> bool: ...

    async def state_items(self, kind: StateKind) -> list[tuple[str, Document]]:
        """Every (key, document) of the kind."""
        ...


class ContentCipher(Protocol):
    """Encryption at rest: what members wrote is sealed before it reaches a file.

    `seal` and `open` must round-trip any string; the sealed form must be a string too
    (it is stored inside JSON documents).
    """

    def seal(self, plain: str) -> str: ...

    def open(self, sealed: str) -> str: ...


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a lease, and for how much longer unless they renew it."""

    owner: str
    seconds_left: float


class LeaseStore(Protocol):
    """Named leases with an expiry, shared by every process on the store: who runs a shard,
    whose turn it is to IDENTIFY. A lease not renewed before it expires is free again, so a
    process that dies (kill -9) gives its leases up by itself."""

    async def try_acquire(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lease for `ttl_seconds` when it is free or expired, or renew it when
        `owner` holds it: True when `owner` holds it now."""
        ...

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up, if `owner` holds it (else nothing happens)."""
        ...

    async def lease_holder(self, name: str) -> LeaseHolder | None:
        """Who holds the lease now; None when it is free or expired."""
        ...


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Azure tokens spent on one UTC day, for one member in one channel of one server, by one
    kind of call (`decision`, `persona`...). `channel_id` 0: a call for the member, not for a
    channel (a persona build). `calls` counts the calls the tokens were spent on."""

    day: date
    guild_id: int
    channel_id: int
    member_id: int
    kind: str
    prompt: int
    completion: int
    cached: int  # of the prompt tokens, those Azure served from its prompt cache
    calls: int = 1

    @property
    def key(self) -> tuple[date, int, int, int, str]:
        return (self.day, self.guild_id, self.channel_id, self.member_id, self.kind)


class UsageStore(Protocol):
    """Token counters by (day, guild, channel, member, kind). Adding is additive: two adds of
    the same key leave one row with their sums, whichever process made them."""

    async def add_usage(self, usage: UsageRow) -> None:
        """Add the row's counts (its calls too) to the stored row of its key, or store it."""
        ...

    async def usage_for(self, guild_id: int, since: date) -> list[UsageRow]:
        """The guild's rows of `since` and later, by day, channel, member and kind."""
        ...

    async def delete_usage_before(self, day: date) -> int:
        """Remove every row of a day before `day` (retention); returns how many."""
        ...

    async def forget_member_usage(self, guild_id: int, member_id: int) -> int:
        """Remove the member's rows in the guild; returns how many."""
        ...

    async def usage_of_member(self, member_id: int) -> list[UsageRow]:
        """The member's rows in every guild, by day, guild, channel and kind."""
        ...

    async def forget_member_usage_everywhere(self, member_id: int) -> int:
        """Remove the member's rows in every guild; returns how many."""
        ...

    async def forget_guild_usage(self, guild_id: int) -> int:
        """Remove every row of the guild; returns how many."""
        ...

    async def guilds_with_usage(self) -> set[int]:
        """The guilds of which at least one row is stored."""
        ...
