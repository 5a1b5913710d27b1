"""The bot's memory: stored messages and small state documents.

The rest of the bot sees two small interfaces, `MessageStore` and `StateStore`, with plain
dataclasses and dicts in and out. `TinyStore` implements both on TinyDB, the embedded default:
one object, one asyncio lock, every TinyDB call in a worker thread (TinyDB is not thread-safe),
and a storage class that writes atomically and durably.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

T = TypeVar("T")


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

    async def last_in_channel(self, channel_id: int, limit: int) -> list[StoredMessage]: ...

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


class DurableJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file and survives kill -9.

    Each write goes to a temporary file in the same directory, is fsynced, and replaces the
    old file with `os.replace` (atomic on POSIX); the directory is fsynced so the rename
    itself is durable. The parsed data is kept in memory so queries do not re-read the file.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, dict[str, Any]] | None = None

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._cache is None:
            try:
                with self._path.open(encoding="utf-8") as handle:
                    self._cache = json.load(handle)
            except FileNotFoundError:
                return None
        return self._cache

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        directory = self._path.parent
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self._path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self._path)
        except BaseException:
            # Memory may hold a change that never reached the disk: forget it.
            self._cache = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_directory(directory)
        self._cache = data

    def close(self) -> None:
        self._cache = None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _to_document(message: StoredMessage) -> dict[str, Any]:
    return {
        "guild": message.guild_id,
        "channel": message.channel_id,
        "author": message.author_id,
        "author_name": message.author_name,
        "content": message.content,
        "created_at": message.created_at.timestamp(),
        "from_bot": message.from_bot,
        "edited_at": message.edited_at.timestamp() if message.edited_at else None,
    }


def _from_document(doc_id: int, doc: dict[str, Any]) -> StoredMessage:
    edited = doc.get("edited_at")
    return StoredMessage(
        message_id=doc_id,
        guild_id=doc["guild"],
        channel_id=doc["channel"],
        author_id=doc["author"],
        author_name=doc["author_name"],
        content=doc["content"],
        created_at=datetime.fromtimestamp(doc["created_at"], UTC),
        from_bot=doc["from_bot"],
        edited_at=datetime.fromtimestamp(edited, UTC) if edited is not None else None,
    )


class TinyStore:
    """`MessageStore` and `StateStore` on TinyDB files in one data directory."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._messages_db = TinyDB(data_dir / "messages.json", storage=DurableJSONStorage)
        self._state_db = TinyDB(data_dir / "state.json", storage=DurableJSONStorage)
        self._messages = self._messages_db.table("messages", cache_size=0)
        self._lock = asyncio.Lock()

    async def _run(self, work: Callable[[], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(work)

    async def close(self) -> None:
        async with self._lock:
            self._messages_db.close()
            self._state_db.close()

    # -- messages -------------------------------------------------------------------------

    async def add(self, message: StoredMessage) -> None:
        # upsert by Discord id: a gateway replay after a resume must not duplicate a message.
        document = Document(_to_document(message), doc_id=message.message_id)
        await self._run(lambda: self._messages.upsert(document))

    async def edit(self, message_id: int, content: str, edited_at: datetime) -> bool:
        def work() -> bool:
            if not self._messages.contains(doc_id=message_id):
                return False
            fields = {"content": content, "edited_at": edited_at.timestamp()}
            self._messages.update(fields, doc_ids=[message_id])
            return True

        return await self._run(work)

    async def delete(self, message_id: int) -> bool:
        def work() -> bool:
            if not self._messages.contains(doc_id=message_id):
                return False
            self._messages.remove(doc_ids=[message_id])
            return True

        return await self._run(work)

    def _select(self, keep: Callable[[dict[str, Any]], bool]) -> Iterator[StoredMessage]:
        for doc in self._messages.all():
            if keep(doc):
                yield _from_document(doc.doc_id, doc)

    async def last_in_channel(self, channel_id: int, limit: int) -> list[StoredMessage]:
        def work() -> list[StoredMessage]:
            found = self._select(lambda d: d["channel"] == channel_id)
            return sorted(found, key=lambda m: m.message_id)[-limit:] if limit > 0 else []

        return await self._run(work)

    async def last_by_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[StoredMessage]:
        def work() -> list[StoredMessage]:
            found = self._select(lambda d: d["guild"] == guild_id and d["author"] == author_id)
            return sorted(found, key=lambda m: m.message_id)[-limit:] if limit > 0 else []

        return await self._run(work)

    async def count_since(
        self,
        guild_id: int,
        since: datetime,
        *,
        channel_id: int | None = None,
        author_id: int | None = None,
    ) -> int:
        cutoff = since.timestamp()

        def keep(doc: dict[str, Any]) -> bool:
            return (
                doc["guild"] == guild_id
                and doc["created_at"] >= cutoff
                and (channel_id is None or doc["channel"] == channel_id)
                and (author_id is None or doc["author"] == author_id)
            )

        return await self._run(lambda: sum(1 for _ in self._select(keep)))

    async def forget_author(self, guild_id: int, author_id: int) -> int:
        def work() -> int:
            ids = [
                doc.doc_id
                for doc in self._messages.all()
                if doc["guild"] == guild_id and doc["author"] == author_id
            ]
            if ids:
                self._messages.remove(doc_ids=ids)
            return len(ids)

        return await self._run(work)

    async def delete_older_than(self, cutoff: datetime) -> int:
        limit = cutoff.timestamp()

        def work() -> int:
            ids = [doc.doc_id for doc in self._messages.all() if doc["created_at"] < limit]
            if ids:
                self._messages.remove(doc_ids=ids)
            return len(ids)

        return await self._run(work)

    # -- state ----------------------------------------------------------------------------

    async def get_state(self, kind: str, key: str) -> dict[str, Any] | None:
        def work() -> dict[str, Any] | None:
            table = self._state_db.table(kind, cache_size=0)
            for doc in table.all():
                if doc.get("_key") == key:
                    return {k: v for k, v in doc.items() if k != "_key"}
            return None

        return await self._run(work)

    async def put_state(self, kind: str, key: str, document: dict[str, Any]) -> None:
        def work() -> None:
            table = self._state_db.table(kind, cache_size=0)
            stored = {**document, "_key": key}
            ids = [doc.doc_id for doc in table.all() if doc.get("_key") == key]
            if not ids:
                table.insert(stored)
                return

            # Replace, not merge (one write): a field the caller dropped must not linger.
            def replace_fields(doc: MutableMapping[str, Any]) -> None:
                doc.clear()
                doc.update(stored)

            table.update(replace_fields, doc_ids=ids)

        await self._run(work)

    async def delete_state(self, kind: str, key: str) -> bool:
        def work() -> bool:
            table = self._state_db.table(kind, cache_size=0)
            ids = [doc.doc_id for doc in table.all() if doc.get("_key") == key]
            if ids:
                table.remove(doc_ids=ids)
            return bool(ids)

        return await self._run(work)
