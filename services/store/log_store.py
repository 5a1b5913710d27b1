"""`LogStore`: the embedded store, messages and beat counts in an append-only log, state in
TinyDB.

One object, one asyncio lock for the log and one for the state files, and every blocking
call in a worker thread under its lock: the log and TinyDB are not thread-safe. Messages keep
TinyDB's document shape but go to the message log (`message_log`), because TinyDB's own
storage rewrites its whole file on every write; each channel's beat count rides in the same
log record as the message it counts. The small state documents stay in TinyDB files, one per
kind (`state/<kind>.json`), each written atomically and durably.

Every write to the log (add, count, edit, delete, forget, expire) joins one queue, filled
synchronously in call order and flushed in batches under the lock: a batch's records are
appended in order, then one fdatasync makes them all durable (group commit), and only then
are their callers answered. So writes take effect in call order, counts follow call order,
and a read after a write has returned sees it.
Maintenance (compaction, reclaiming dead index slots, index snapshots) runs as one background
task at a time; it copies bytes outside the lock and takes the lock only to swap what readers
see (and to renumber the index, a few C-level passes over its columns).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from services.background import BackgroundTasks
from services.store.durable_file import fsync_directory, write_atomically
from services.store.message_log import LogLimits, MessageLog, remove_files
from services.store.model import (
    STATE_KINDS,
    Arrival,
    ContentCipher,
    Document,
    StateKind,
    StoredMessage,
)

T = TypeVar("T")

log = logging.getLogger(__name__)

_SEALED_FIELDS = ("author_name", "content")
# Where a previous version kept the beat counts, as TinyDB documents {"_key": channel id,
# "count": n}: imported into the log on the first open, then removed.
_LEGACY_COUNTS = "channel_count.json"

_Write = tuple[Callable[[MessageLog], Any], "asyncio.Future[Any]"]
EXPORT_BATCH = 5_000  # messages read per batch (under the lock) by `export_messages`


@dataclass(frozen=True)
class MessageExport:
    """What `LogStore.export_messages` hands out: a count, then the messages in batches."""

    total: int  # messages in the export, as of its start
    batches: AsyncIterator[list[StoredMessage]]


class DurableJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file and survives kill -9.

    Each write goes to a temporary file, is fsynced, and replaces the old file with
    `os.replace`. The parsed data is kept in memory so queries do not re-read the file.
    Right for small documents; the messages use the log instead.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, dict[str, Any]] | None = None

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._cache is None:
            try:
                self._cache = json.loads(self._path.read_bytes())
            except FileNotFoundError:
                return None
        return self._cache

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            write_atomically(self._path, encoded)
        except BaseException:
            self._cache = None  # memory may hold a change that never reached the disk
            raise
        self._cache = data

    def close(self) -> None:
        self._cache = None


class LogStore:
    """`MessageStore` and `StateStore` in one data directory.

    With a `cipher`, the text of messages, the authors' names and the state documents are
    sealed before they are written and opened when read: the files hold no plaintext of them.
    (Ids, times and beat counts are not sealed: the log needs them to index and count.)
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        cipher: ContentCipher | None = None,
        limits: LogLimits | None = None,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._data_dir = data_dir
        self._cipher = cipher
        self._limits = limits or LogLimits()
        self._log: MessageLog | None = None  # opened by the first call, in a worker thread
        # One small file per kind of state document (state/<kind>.json): writing one kind
        # never rewrites the others.
        self._state_dir = data_dir / "state"
        self._state_dbs: dict[str, TinyDB] = {}
        self._lock = asyncio.Lock()  # the message log
        self._state_lock = asyncio.Lock()  # the state files, independent of the log
        self._maintenance: asyncio.Task[None] | None = None
        self._purge_requested = False
        # Group commit: writes that arrive while a flush runs share the next flush's fsync.
        self._pending: list[_Write] = []
        self._tasks = BackgroundTasks()  # the flush and the maintenance, logged if they fail
        self._flusher: asyncio.Task[None] | None = None

    async def _run(self, work: Callable[[MessageLog], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(self._with_log, work)

    def _with_log(self, work: Callable[[MessageLog], T]) -> T:
        if self._log is None:
            message_log = MessageLog(self._data_dir, self._limits, import_document=self._seal)
            self._import_legacy_counts(message_log)
            self._log = message_log
            # Removed text still on disk (a crash before its purge finished): purge it soon.
            self._purge_requested |= bool(
                message_log.segments_to_compact(purge=True) or message_log.active_has_dead_records()
            )
        return work(self._log)

    def _import_legacy_counts(self, message_log: MessageLog) -> None:
        """Carry the counts of a previous version's state/channel_count.json into the log
        (the higher of the two), durably, then remove the file. A crash in between imports
        them again on the next open, which changes nothing: counts are maxima."""
        path = self._state_dir / _LEGACY_COUNTS
        if not path.exists():
            return
        legacy = TinyDB(path, storage=DurableJSONStorage)
        try:
            counts = {
                int(doc["_key"]): int(self._open_state(doc).get("count", 0))
                for doc in legacy.table("documents", cache_size=0).all()
            }
        finally:
            legacy.close()
        risen = message_log.import_counts(counts)  # durable when it returns
        path.unlink()
        fsync_directory(self._state_dir)
        log.info(
            "imported the beat counts of %d channels from state/%s (%d raised)",
            len(counts),
            _LEGACY_COUNTS,
            risen,
        )

    async def close(self) -> None:
        # The flush and the maintenance finish (a failure was logged, and the waiting writes
        # were told); nothing is cancelled.
        await self._tasks.wait_idle()
        if self._log is not None and self._log.appended_since_snapshot:
            await self._snapshot([])  # the next start replays nothing
        async with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None
        async with self._state_lock:
            for state_db in self._state_dbs.values():
                state_db.close()
            self._state_dbs.clear()

    # -- documents --------------------------------------------------------------------------

    def _seal(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self._cipher is None:
            return doc
        return {**doc, **{name: self._cipher.seal(doc[name]) for name in _SEALED_FIELDS}}

    def _to_document(self, message: StoredMessage) -> dict[str, Any]:
        return self._seal(
            {
                "guild": message.guild_id,
                "channel": message.channel_id,
                "author": message.author_id,
                "author_name": message.author_name,
                "content": message.content,
                "created_at": message.created_at.timestamp(),
                "from_bot": message.from_bot,
                "edited_at": message.edited_at.timestamp() if message.edited_at else None,
            }
        )

    def _from_document(
        self, doc_id: int, doc: dict[str, Any], *, sealed: bool = False
    ) -> StoredMessage:
        opened = self._cipher.open if self._cipher is not None and not sealed else str
        edited = doc.get("edited_at")
        return StoredMessage(
            message_id=doc_id,
            guild_id=doc["guild"],
            channel_id=doc["channel"],
            author_id=doc["author"],
            author_name=opened(doc["author_name"]),
            content=opened(doc["content"]),
            created_at=datetime.fromtimestamp(doc["created_at"], UTC),
            from_bot=doc["from_bot"],
            edited_at=datetime.fromtimestamp(edited, UTC) if edited is not None else None,
        )

    def _messages(self, found: list[tuple[int, dict[str, Any]]]) -> list[StoredMessage]:
        return [self._from_document(message_id, doc) for message_id, doc in found]

    def _read_messages(
        self, ids: list[int], sealed: bool, message_log: MessageLog
    ) -> list[StoredMessage]:
        """The live messages among `ids`, in that order (`sealed`: their texts not opened)."""
        found = message_log.documents(ids)
        return [self._from_document(i, doc, sealed=sealed) for i, doc in found]

    # -- writing ----------------------------------------------------------------------------

    async def _write(self, work: Callable[[MessageLog], T]) -> T:
        """Queue a change of the log (synchronously: call order is queue order) and return
        its result once it is durable."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, done))
        if self._flusher is None:
            self._flusher = self._tasks.spawn(self._flush_pending(), "store flush")
        return await done

    async def _flush_pending(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    outcomes = await self._run(partial(_write_batch, batch=batch))
                except BaseException as error:  # the batch may not be on disk: no acks
                    _settle(batch, [(None, error)] * len(batch))
                    raise
                _settle(batch, outcomes)
        finally:
            self._flusher = None
            if self._pending:  # stopped by an error or a cancellation: fail the waiting writes
                stopped = OSError("the store stopped writing")
                _settle(self._pending, [(None, stopped)] * len(self._pending))
                self._pending = []

    # -- messages ---------------------------------------------------------------------------

    async def add(self, message: StoredMessage, *, counted: bool) -> Arrival:
        # A put by Discord id. A gateway replay of a stored message writes nothing: it never
        # duplicates the message, and never undoes an edit made since.
        doc = self._to_document(message)
        message_id, channel_id = message.message_id, message.channel_id

        def work(message_log: MessageLog) -> Arrival:
            if message_log.is_live(message_id):
                return Arrival(new=False, count=None)
            new = True
            record: dict[str, Any] = {"put": message_id, "doc": doc}
            count = None
            if counted and new and not message_log.was_counted(message_id):
                count = record["beat"] = message_log.channel_count(channel_id) + 1
            message_log.append(record, durable=False)  # the batch's fdatasync follows
            return Arrival(new=new, count=count)

        arrival = await self._write(work)
        self._maintain_if_due(purge=False)
        return arrival

    async def count(self, channel_id: int, message_id: int) -> Arrival:
        def work(message_log: MessageLog) -> Arrival:
            if message_log.was_counted(message_id):
                return Arrival(new=False, count=None)
            count = message_log.channel_count(channel_id) + 1
            message_log.append({"beat": [channel_id, count], "of": message_id}, durable=False)
            return Arrival(new=True, count=count)

        arrival = await self._write(work)
        self._maintain_if_due(purge=False)
        return arrival

    async def channel_count(self, channel_id: int) -> int:
        return await self._run(lambda message_log: message_log.channel_count(channel_id))

    async def edit(self, message_id: int, content: str, edited_at: datetime) -> bool:
        sealed = self._cipher.seal(content) if self._cipher is not None else content

        def work(message_log: MessageLog) -> bool:
            doc = message_log.document(message_id)
            if doc is None:
                return False
            new_doc = {**doc, "content": sealed, "edited_at": edited_at.timestamp()}
            message_log.append({"put": message_id, "doc": new_doc}, durable=False)
            return True

        edited = await self._write(work)
        self._maintain_if_due(purge=edited)  # the old text must leave the disk too
        return edited

    async def delete(self, message_id: int) -> bool:
        def work(message_log: MessageLog) -> bool:
            if not message_log.is_live(message_id):
                return False
            return message_log.append({"del": message_id}, durable=False) > 0

        deleted = await self._write(work)
        self._maintain_if_due(purge=deleted)
        return deleted

    async def delete_many(self, message_ids: Sequence[int]) -> int:
        def work(message_log: MessageLog) -> int:
            # One queued write: its tombstones are made durable together.
            live = [i for i in dict.fromkeys(message_ids) if message_log.is_live(i)]
            return sum(message_log.append({"del": i}, durable=False) for i in live)

        deleted = await self._write(work)
        self._maintain_if_due(purge=deleted > 0)
        return deleted

    async def last_in_channel(
        self, channel_id: int, limit: int, *, up_to: int | None = None
    ) -> list[StoredMessage]:
        return await self._run(
            lambda message_log: self._messages(
                message_log.last_of_channel(channel_id, limit, up_to)
            )
        )

    async def last_by_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[StoredMessage]:
        return await self._run(
            lambda message_log: self._messages(
                message_log.last_of_author(guild_id, author_id, limit)
            )
        )

    async def forget_author(self, guild_id: int, author_id: int) -> int:
        def work(message_log: MessageLog) -> int:
            if not message_log.has_messages_of(guild_id, author_id):
                return 0
            return message_log.append({"forget": [guild_id, author_id]}, durable=False)

        forgotten = await self._write(work)
        self._maintain_if_due(purge=forgotten > 0)
        return forgotten

    async def delete_older_than(self, cutoff: datetime) -> int:
        expired = await self._write(
            lambda message_log: message_log.append({"expire": cutoff.timestamp()}, durable=False)
        )
        self._maintain_if_due(purge=expired > 0)
        return expired

    # -- export (python -m app migrate-store) ------------------------------------------------

    async def message_count(self) -> int:
        """How many messages are stored."""
        return await self._run(lambda message_log: message_log.index_figures()[1])

    async def channel_counts(self) -> dict[int, int]:
        """Every channel's beat count (channels never counted are not there)."""
        return await self._run(lambda message_log: message_log.channel_counts())

    async def export_messages(
        self, *, after: int | None = None, batch: int = EXPORT_BATCH, sealed: bool = False
    ) -> MessageExport:
        """Every stored message with an id above `after` (all without it), in id order, in
        batches of `batch`: how many there are now, and the batches to iterate.

        With `sealed` (and a cipher), the authors' names and the texts are handed out as the
        files hold them, sealed, never opened: for a store that seals with the same key
        (`PostgresStore.import_messages(sealed=True)`), which then need not seal them again.

        Each batch is read under the log's lock in a worker thread, like any read, so writes
        may come in between: a message removed meanwhile is left out, one added meanwhile
        is not in this export.
        """
        ids = await self._run(lambda message_log: message_log.live_ids(after))

        async def batches() -> AsyncIterator[list[StoredMessage]]:
            for start in range(0, len(ids), batch):
                chunk = ids[start : start + batch]
                messages = await self._run(partial(self._read_messages, chunk, sealed))
                if messages:
                    yield messages

        return MessageExport(total=len(ids), batches=batches())

    # -- maintenance ------------------------------------------------------------------------

    def _maintain_if_due(self, *, purge: bool) -> None:
        """Start the background maintenance when there is something to do.

        A purge (after a delete, an edit, a forget or the retention job) rewrites every
        segment holding a removed message, so the text leaves the disk soon after.
        """
        self._purge_requested |= purge
        if self._maintenance is not None or self._log is None:
            return
        due = self._purge_requested or (
            self._log.appended_since_snapshot >= self._limits.snapshot_every
        )
        if due:
            self._maintenance = self._tasks.spawn(self._maintain(), "store maintenance")

    async def _maintain(self) -> None:
        try:
            while await self._maintenance_round():
                pass
        except Exception:
            log.exception("store maintenance failed; it will be tried again later")
        finally:
            self._maintenance = None

    async def _maintenance_round(self) -> bool:
        """Compact what needs it, then snapshot the index; False when nothing was due."""
        purge, self._purge_requested = self._purge_requested, False

        def choose(message_log: MessageLog) -> list[int]:
            if purge and message_log.active_has_dead_records():
                message_log.seal_active()
            return message_log.segments_to_compact(purge=purge)

        numbers = await self._run(choose)
        assert self._log is not None
        if not numbers and self._log.appended_since_snapshot < self._limits.snapshot_every:
            return False
        obsolete = [await self._compact(number) for number in numbers]
        # Only this task plans compactions, and none is pending now: slots may be renumbered.
        await self._run(lambda message_log: message_log.reclaim_slots_if_due())
        await self._snapshot(obsolete)
        return self._purge_requested

    async def _compact(self, number: int) -> Path:
        """Rewrite one sealed segment without its dead records; returns the old file."""
        plan = await self._run(lambda message_log: message_log.plan_compaction(number))
        assert self._log is not None
        await asyncio.to_thread(self._log.write_compacted, plan)
        return await self._run(lambda message_log: message_log.install_compacted(plan))

    async def _snapshot(self, obsolete: list[Path]) -> None:
        snapshot = await self._run(lambda message_log: message_log.prepare_snapshot())
        assert self._log is not None
        await asyncio.to_thread(self._log.write_snapshot, snapshot)
        obsolete += await self._run(lambda message_log: message_log.commit_snapshot(snapshot))
        await asyncio.to_thread(remove_files, obsolete)

    # -- state ------------------------------------------------------------------------------

    def _seal_state(self, document: Document) -> Document:
        if self._cipher is None:
            return copy.deepcopy(document)  # the caller's dict never aliases the stored one
        return {"sealed": self._cipher.seal(json.dumps(document, ensure_ascii=False))}

    def _open_state(self, stored: dict[str, Any]) -> Document:
        fields = {k: v for k, v in stored.items() if k != "_key"}
        if self._cipher is None:
            return copy.deepcopy(fields)  # nor does what it reads
        opened: Document = json.loads(self._cipher.open(fields["sealed"]))
        return opened

    def _state_table(self, kind: StateKind) -> Table:
        state_db = self._state_dbs.get(kind)
        if state_db is None:
            if kind not in STATE_KINDS:  # a kind names a file: nothing else gets in
                raise ValueError(f"not a state kind: {kind!r}")
            path = self._state_dir / f"{kind}.json"
            state_db = self._state_dbs[kind] = TinyDB(path, storage=DurableJSONStorage)
        return state_db.table("documents", cache_size=0)

    # Blocking, called in a worker thread with the state lock held.

    def _get(self, kind: StateKind, key: str) -> Document | None:
        for doc in self._state_table(kind).all():
            if doc.get("_key") == key:
                return self._open_state(doc)
        return None

    def _put(self, kind: StateKind, key: str, document: Document) -> None:
        if "_key" in document:
            raise ValueError("a state document may not have a field named _key")
        table = self._state_table(kind)
        stored = {**self._seal_state(document), "_key": key}
        ids = [doc.doc_id for doc in table.all() if doc.get("_key") == key]
        if not ids:
            table.insert(stored)
            return

        # Replace, not merge (one write): a field the caller dropped must not linger.
        def replace_fields(doc: MutableMapping[str, Any]) -> None:
            doc.clear()
            doc.update(stored)

        table.update(replace_fields, doc_ids=ids)

    def _delete(self, kind: StateKind, key: str) -> bool:
        table = self._state_table(kind)
        ids = [doc.doc_id for doc in table.all() if doc.get("_key") == key]
        if ids:
            table.remove(doc_ids=ids)
        return bool(ids)

    async def get_state(self, kind: StateKind, key: str) -> Document | None:
        async with self._state_lock:
            return await asyncio.to_thread(self._get, kind, key)

    async def put_state(self, kind: StateKind, key: str, document: Document) -> None:
        async with self._state_lock:
            await asyncio.to_thread(self._put, kind, key, document)

    async def update_state(
        self, kind: StateKind, key: str, change: Callable[[Document | None], Document | None]
    ) -> Document | None:
        # `change` runs on the event loop, between the read and the one write, with the state
        # lock held all along: no other write of any state document comes in between.
        async with self._state_lock:
            changed = change(await asyncio.to_thread(self._get, kind, key))
            if changed is None:
                await asyncio.to_thread(self._delete, kind, key)
                return None
            await asyncio.to_thread(self._put, kind, key, changed)
            return copy.deepcopy(changed)

    async def delete_state(self, kind: StateKind, key: str) -> bool:
        async with self._state_lock:
            return await asyncio.to_thread(self._delete, kind, key)

    async def state_items(self, kind: StateKind) -> list[tuple[str, Document]]:
        def work() -> list[tuple[str, Document]]:
            return [
                (str(doc["_key"]), self._open_state(doc)) for doc in self._state_table(kind).all()
            ]

        async with self._state_lock:
            return await asyncio.to_thread(work)


def _write_batch(
    message_log: MessageLog, batch: list[_Write]
) -> list[tuple[Any, BaseException | None]]:
    """Apply every write in order, then one fdatasync for all; a write that fails fails alone."""
    outcomes: list[tuple[Any, BaseException | None]] = []
    for work, _done in batch:
        try:
            outcomes.append((work(message_log), None))
        except Exception as error:
            outcomes.append((None, error))
    message_log.sync()
    return outcomes


def _settle(batch: list[_Write], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    for (_work, done), (result, failure) in zip(batch, outcomes, strict=True):
        if done.done():
            continue
        if failure is None:
            done.set_result(result)
        elif isinstance(failure, Exception):
            done.set_exception(failure)
        else:
            done.cancel()
