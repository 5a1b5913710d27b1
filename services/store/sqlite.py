"""`SqliteStore`: the embedded store, in one SQLite file (`DATA_DIR/bot.sqlite3`) plus one small
TinyDB file per server (`DATA_DIR/servers/<guild_id>.json`, `server_documents.py`).

SQLite holds everything written per message or per member: the messages, each channel's beat
count (in the transaction that stores the message it counts), the counted ids, the per-member
documents (profiles, privacy choices, the bot's reply ids) and the leases. The per-server
documents (settings, music queue) change only when someone asks, so they stay small JSON files
a person can read.

Threads of its own, so nothing else in the process (yt-dlp, `asyncio.to_thread`) can starve it:
- one writer thread with its own connection takes every queued write and commits them together
  in one transaction (group commit), in call order; each write runs in a savepoint, so a write
  that fails fails alone, and a commit that fails fails every write of its group and leaves
  nothing applied;
- two reader threads, each with its own read-only connection (WAL lets them read beside the
  writer);
- one checkpointer thread with its own connection copies the WAL into the file beside the
  writer (a passive checkpoint does not block it), so no commit waits for SQLite's automatic
  checkpoint, which would run inside the writer's commit;
- one thread for the TinyDB files, which are not thread-safe.

Durability: WAL with `synchronous=NORMAL` for groups of adds and counts (a kill -9 loses
nothing, since the WAL is written before the commit returns; a power loss may lose the last
commits, never corrupt the file, and the catch-up after downtime reads those messages back
from Discord), and `synchronous=FULL` for any group that changes a member's documents or
removes anything: an opt-out or a forget is never undone by a power loss.

Deleted text leaves the disk: `secure_delete` zeroes freed space in the file, and after a group
that removed or replaced text the writer checkpoints and truncates the WAL before it answers,
so once a delete, edit, forget or expiry returns, no old page image keeps the text either.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from services.store import legacy_data_dir, sql
from services.store.model import (
    STATE_KINDS,
    Arrival,
    ContentCipher,
    Document,
    LeaseHolder,
    StateKind,
    StoredAttachment,
    StoredMessage,
    StoreOutageError,
    UsageRow,
    attachments_from_text,
    attachments_text,
)
from services.store.server_documents import SERVER_KINDS, ServerDocuments

T = TypeVar("T")

log = logging.getLogger(__name__)

DATABASE_FILE = "bot.sqlite3"
SERVERS_DIR = "servers"
APPLICATION_ID = 0x44414231  # "DAB1" in the file's header: the file is this bot's store
GROUP_LIMIT = 500  # writes per transaction at most
BATCH = 5_000  # rows per statement when forgetting or expiring many
EXPORT_BATCH = 5_000  # messages per batch handed out by `export_messages`
READ_THREADS = 2
BUSY_TIMEOUT_SECONDS = 30.0
CHECKPOINT_EVERY_SECONDS = 1.0  # at most one passive checkpoint a second, after writes
WAL_SIZE_LIMIT = 16 * 1024 * 1024  # bytes the WAL file keeps after it restarts
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SEALED_DOCUMENT_FIELDS = ("author_name", "content")

# Dialect-specific statements (the shared ones are in `sql.py`).
_VALUES = "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"  # one per message column
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({sql.MESSAGE_COLUMNS}) {_VALUES} "
    "ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
)
_PUT_MESSAGE = (  # an imported version replaces an older one (an edit in the old log)
    f"INSERT INTO messages ({sql.MESSAGE_COLUMNS}) {_VALUES} "
    "ON CONFLICT (message_id) DO UPDATE SET content = EXCLUDED.content, "
    "author_name = EXCLUDED.author_name, edited_at = EXCLUDED.edited_at"
)
_NOTE_COUNTED = (
    "INSERT INTO counted_messages (message_id, channel_id, counted_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
)
_BUMP_COUNTER = (
    "INSERT INTO channel_counters (channel_id, n) VALUES ($1, 1) "
    "ON CONFLICT (channel_id) DO UPDATE SET n = channel_counters.n + 1 RETURNING n"
)
_RAISE_COUNTER = (
    "INSERT INTO channel_counters (channel_id, n) VALUES ($1, $2) "
    "ON CONFLICT (channel_id) DO UPDATE SET n = max(channel_counters.n, EXCLUDED.n)"
)
_FORGET_BEFORE_IMPORT = "DELETE FROM messages WHERE guild_id = $1 AND author_id = $2"
_EXPIRE_BEFORE_IMPORT = "DELETE FROM messages WHERE created_at < $1"
_TAKE_LEASE = (
    "INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at "
    "WHERE leases.expires_at < $4 OR leases.owner = EXCLUDED.owner RETURNING owner"
)
_LEASE_HOLDER = "SELECT owner, expires_at FROM leases WHERE name = $1 AND expires_at > $2"
_MESSAGES_AFTER = (
    f"SELECT {sql.MESSAGE_COLUMNS} FROM messages WHERE message_id > $1 ORDER BY message_id LIMIT $2"
)
_COUNT_AFTER = "SELECT count(*) FROM messages WHERE message_id > $1"
_IMPORTED_MARK = "imported-data-dir"


class StoreFileError(Exception):
    """The database file is not this bot's store, is damaged, or is newer than this code."""


class StoreWriteError(StoreOutageError):
    """A group of writes did not commit: none of it is stored."""


def _params(*values: object) -> dict[str, object]:
    """`$1, $2, ...` bound by name, as SQLite reads them."""
    return {str(number): value for number, value in enumerate(values, start=1)}


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _seconds_to_micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


def known_migrations() -> list[tuple[int, str]]:
    """(version, SQL) of every schema change of the SQLite store, in order."""
    folder = resources.files("services.store") / "sqlite_migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


@dataclass(frozen=True)
class MessageExport:
    """What `export_messages` hands out: a count, then the messages in batches."""

    total: int  # messages in the export, as of its start
    batches: AsyncIterator[list[StoredMessage]]


@dataclass
class _Job:
    work: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any]
    durable: bool  # commit with synchronous=FULL: it changes documents or removes something
    removes: bool  # it removes or replaces text: checkpoint the WAL after the commit


_STOP = object()


class SqliteStore:
    """`MessageStore`, `StateStore`, `LeaseStore` and `UsageStore` in `data_dir` (see the
    module's doc).

    With a `cipher`, the texts, the authors' names and the documents are sealed before they
    are written and opened when read. `on_write_problem` is told (on the event loop) when
    writes start failing, with the reason, and when they work again, with None.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        cipher: ContentCipher | None = None,
        on_write_problem: Callable[[str | None], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._data_dir = data_dir
        self.path = data_dir / DATABASE_FILE
        self._cipher = cipher
        self._on_write_problem = on_write_problem
        self._clock = clock
        self._servers = ServerDocuments(data_dir / SERVERS_DIR)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._writer = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="sqlite-checkpoint", daemon=True
        )
        self._written = threading.Event()  # set by the writer after a commit
        self._stopping = threading.Event()
        self._readers = concurrent.futures.ThreadPoolExecutor(
            READ_THREADS, thread_name_prefix="sqlite-read"
        )
        self._files = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="server-files")
        self._reader_connections: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._write_problem: str | None = None
        self._closed = False
        self._writer.start()

    # -- opening ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Wait until the file is open, migrated and any older data directory imported; raises
        `StoreFileError` with one line when the file is not this bot's store or is damaged."""
        await asyncio.wrap_future(self._ready)

    def _connect(self, *, writer: bool) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,  # transactions are begun and committed explicitly
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_SECONDS,
        )
        connection.execute("PRAGMA secure_delete = ON")
        if not writer:
            connection.execute("PRAGMA query_only = ON")
        return connection

    def _open_writer(self) -> sqlite3.Connection:
        try:
            connection = self._connect(writer=True)
            fresh = connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 0
            if fresh:  # must come before the first table: it decides the file's layout
                connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
                connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            elif connection.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                connection.close()
                raise StoreFileError(f"{self.path} is a SQLite database, but not this bot's store")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreFileError(f"{self.path}: SQLite refused WAL mode ({mode})")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's work
            connection.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            self._migrate(connection)
            self._import_legacy(connection)
        except sqlite3.DatabaseError as error:
            raise StoreFileError(
                f"{self.path} cannot be opened as the bot's store (not a SQLite database, "
                f"or damaged): {error}"
            ) from None
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        applied = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
        migrations = known_migrations()
        newest = max(version for version, _ in migrations)
        if applied and max(applied) > newest:
            raise StoreFileError(
                f"{self.path} has schema version {max(applied)}, newer than this release "
                f"knows ({newest}): run the newer release, or restore a backup"
            )
        for version, script in migrations:
            if version in applied:
                continue
            # One transaction per file: SQLite's DDL is transactional, so a crash applies all
            # of it or none.
            connection.executescript(
                f"BEGIN IMMEDIATE; {script}\n"
                f"INSERT INTO schema_migrations VALUES ({version}, {int(self._clock())}); COMMIT;"
            )
            log.info("store: applied schema migration %04d to %s", version, self.path.name)

    # -- importing an older data directory ------------------------------------------------------

    def _import_legacy(self, connection: sqlite3.Connection) -> None:
        """Import the message log and TinyDB state of an earlier release, in one transaction,
        then move the old files aside. A crash before the commit imports again from the start;
        after it, only the move is left to do."""
        if not legacy_data_dir.holds_legacy_data(self._data_dir):
            return
        done = connection.execute(sql.GET_META, _params(_IMPORTED_MARK)).fetchone()
        # Imported before a crash that came before the move: only the move is left.
        counts = self._import_legacy_files(connection) if done is None else json.loads(done[0])
        today = datetime.now(UTC).date().isoformat()
        target = legacy_data_dir.moved_aside(self._data_dir, today)
        log.info(
            "store: imported %d messages, %d channel counts and %d documents from the previous "
            "release's files into %s; the old files are kept in %s",
            counts["messages"],
            counts["channels"],
            counts["documents"],
            self.path.name,
            target,
        )

    def _import_legacy_files(self, connection: sqlite3.Connection) -> dict[str, int]:
        # Per-server documents first: writing them again after a crash changes nothing.
        documents = 0
        for kind in SERVER_KINDS:
            for key, stored in legacy_data_dir.state_documents(self._data_dir, kind):
                self._servers.put(kind, key, stored)
                documents += 1
        connection.execute("BEGIN IMMEDIATE")
        try:
            for record in legacy_data_dir.message_records(self._data_dir, self._seal_document):
                self._replay(connection, record)
            for kind in STATE_KINDS:
                if kind in SERVER_KINDS:
                    continue
                for key, stored in legacy_data_dir.state_documents(self._data_dir, kind):
                    connection.execute(
                        sql.PUT_STATE, _params(kind, key, json.dumps(stored, ensure_ascii=False))
                    )
                    documents += 1
            legacy_counts = legacy_data_dir.LEGACY_COUNTS
            for key, stored in legacy_data_dir.state_documents(self._data_dir, legacy_counts):
                count = int(self._open_state(stored).get("count", 0))
                connection.execute(_RAISE_COUNTER, _params(int(key), count))
            counts = {
                "messages": connection.execute(sql.MESSAGE_COUNT).fetchone()[0],
                "channels": connection.execute("SELECT count(*) FROM channel_counters").fetchone()[
                    0
                ],
                "documents": documents,
            }
            connection.execute(sql.PUT_META, _params(_IMPORTED_MARK, json.dumps(counts)))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return counts

    def _replay(self, connection: sqlite3.Connection, record: legacy_data_dir.Record) -> None:
        if record.put is not None:
            message_id, doc = record.put
            edited = doc.get("edited_at")
            connection.execute(
                _PUT_MESSAGE,
                _params(
                    message_id,
                    int(doc["guild"]),
                    int(doc["channel"]),
                    int(doc["author"]),
                    doc["author_name"],
                    doc["content"],
                    _seconds_to_micros(doc["created_at"]),
                    _seconds_to_micros(edited) if edited is not None else None,
                    bool(doc.get("from_bot", False)),
                    None,  # the old log kept no attachments
                ),
            )
        if record.beat is not None:
            connection.execute(_RAISE_COUNTER, _params(*record.beat))
        if record.counted is not None:
            message_id, channel_id = record.counted
            connection.execute(
                _NOTE_COUNTED,
                _params(message_id, channel_id, _seconds_to_micros(self._clock())),
            ).fetchall()
        if record.deleted is not None:
            connection.execute(sql.DELETE, _params(record.deleted)).fetchall()
        if record.forgotten is not None:
            connection.execute(_FORGET_BEFORE_IMPORT, _params(*record.forgotten))
        if record.expired_before is not None:
            connection.execute(
                _EXPIRE_BEFORE_IMPORT, _params(_seconds_to_micros(record.expired_before))
            )

    def _seal_document(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self._cipher is None:
            return doc
        return {**doc, **{name: self._cipher.seal(doc[name]) for name in _SEALED_DOCUMENT_FIELDS}}

    # -- the writer thread --------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            connection = self._open_writer()
        except BaseException as error:
            self._ready.set_exception(error)
            self._fail_queued_forever(error)
            return
        self._ready.set_result(None)
        self._checkpointer.start()
        durable = False
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                group = [first]
                stop = False
                while len(group) < GROUP_LIMIT:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        stop = True
                        break
                    group.append(job)
                wanted = any(job.durable for job in group)
                if wanted != durable:
                    synchronous = "FULL" if wanted else "NORMAL"
                    connection.execute(f"PRAGMA synchronous = {synchronous}")
                    durable = wanted
                self._commit(connection, group)
                if stop:
                    return
        finally:
            self._written.set()  # wakes the checkpointer, which sees `_stopping` and ends
            self._checkpointer.join()
            with contextlib.suppress(sqlite3.Error):
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.close()

    def _checkpoint_loop(self) -> None:
        connection = self._connect(writer=True)
        try:
            while True:
                self._written.wait()
                self._written.clear()
                if self._stopping.is_set():
                    return
                with contextlib.suppress(sqlite3.Error):  # busy: the next round does it
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                # Throttle: after a burst of commits, one checkpoint a second is plenty.
                self._stopping.wait(CHECKPOINT_EVERY_SECONDS)
        finally:
            connection.close()

    def _fail_queued_forever(self, error: BaseException) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            _settle(job.future, None, StoreWriteError(f"the store is not open: {error}"))

    def _commit(self, connection: sqlite3.Connection, group: list[_Job]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for job in group:
                connection.execute("SAVEPOINT write")
                try:
                    result = job.work(connection)
                except sqlite3.OperationalError:
                    raise  # the disk or the file refuses: the whole group fails
                except Exception as error:  # this write alone is wrong: undo it alone
                    connection.execute("ROLLBACK TO write")
                    connection.execute("RELEASE write")
                    outcomes.append((None, error))
                    continue
                connection.execute("RELEASE write")
                outcomes.append((result, None))
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            self._note_problem(str(error))
            failure = StoreWriteError(f"the store could not write: {error}")
            for job in group:
                _settle(job.future, None, failure)
            return
        self._note_problem(None)
        if any(job.removes for job in group):
            # The old page images of removed text are in the WAL until a checkpoint copies
            # and truncates it (secure_delete zeroes them in the main file): done before the
            # callers hear back, so a returned delete has left the disk.
            with contextlib.suppress(sqlite3.Error):
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for job, (result, refused) in zip(group, outcomes, strict=True):
            _settle(job.future, result, refused)
        self._written.set()

    def _note_problem(self, problem: str | None) -> None:
        """One log line when writes start failing, one when they work again."""
        if problem == self._write_problem or (problem is not None and self._write_problem):
            return
        self._write_problem = problem
        if problem is not None:
            log.error(
                "store: writes to %s are failing (%s); messages are not stored or answered "
                "until it can write again",
                self.path,
                problem,
            )
        else:
            log.warning("store: writes to %s work again", self.path)
        callback, loop = self._on_write_problem, self._loop
        if callback is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, problem)

    async def _write(
        self,
        work: Callable[[sqlite3.Connection], T],
        *,
        durable: bool = False,
        removes: bool = False,
    ) -> T:
        """Queue a write (call order is commit order) and return its result once committed.
        A caller cancelled meanwhile does not take it back: it is still written."""
        if self._closed:
            raise StoreWriteError("the store is closed")
        self._loop = asyncio.get_running_loop()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Job(work, future, durable or removes, removes))
        return await asyncio.wrap_future(future)

    # -- reading ------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect(writer=False)
            with self._lock:
                self._reader_connections.append(connection)
        return connection

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        await asyncio.wrap_future(self._ready)
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, lambda: work(self._reader())
        )

    async def _in_files(self, work: Callable[[], T]) -> T:
        await asyncio.wrap_future(self._ready)  # an import may still be writing them
        return await asyncio.get_running_loop().run_in_executor(self._files, work)

    def _message(self, row: Sequence[Any], *, sealed: bool = False) -> StoredMessage:
        opened = self._cipher.open if self._cipher is not None and not sealed else str
        return StoredMessage(
            message_id=row[0],
            guild_id=row[1],
            channel_id=row[2],
            author_id=row[3],
            author_name=opened(row[4]),
            content=opened(row[5]),
            created_at=_moment(row[6]),
            edited_at=_moment(row[7]) if row[7] is not None else None,
            from_bot=bool(row[8]),
            # Opened even for a sealed export: the importer seals them again (they are few).
            attachments=attachments_from_text(self._open_attachments(row[9])),
        )

    def _messages(self, rows: list[Any]) -> list[StoredMessage]:
        return [self._message(row) for row in reversed(rows)]

    # -- MessageStore -------------------------------------------------------------------------

    def _seal(self, text: str) -> str:
        return self._cipher.seal(text) if self._cipher is not None else text

    def _seal_attachments(self, attachments: Sequence[StoredAttachment]) -> str | None:
        text = attachments_text(attachments)
        return self._seal(text) if text is not None else None

    def _open_attachments(self, stored: str | None) -> str | None:
        if stored is None or self._cipher is None:
            return stored
        return self._cipher.open(stored)

    async def add(self, message: StoredMessage, *, counted: bool) -> Arrival:
        values = _params(
            message.message_id,
            message.guild_id,
            message.channel_id,
            message.author_id,
            self._seal(message.author_name),
            self._seal(message.content),
            _micros(message.created_at),
            _micros(message.edited_at) if message.edited_at is not None else None,
            message.from_bot,
            self._seal_attachments(message.attachments),
        )

        def work(connection: sqlite3.Connection) -> Arrival:
            # A replay of a stored id changes nothing: it never undoes an edit made since.
            if not connection.execute(_INSERT_MESSAGE, values).fetchall():
                return Arrival(new=False, count=None)
            if not counted:
                return Arrival(new=True, count=None)
            return Arrival(new=True, count=self._bump(connection, message))

        return await self._write(work)

    def _bump(self, connection: sqlite3.Connection, message: StoredMessage) -> int | None:
        return self._bump_ids(connection, message.channel_id, message.message_id)

    def _bump_ids(
        self, connection: sqlite3.Connection, channel_id: int, message_id: int
    ) -> int | None:
        """Count the message in its channel, unless it was counted before: the new count."""
        now = _seconds_to_micros(self._clock())
        if not connection.execute(_NOTE_COUNTED, _params(message_id, channel_id, now)).fetchall():
            return None
        count: int = connection.execute(_BUMP_COUNTER, _params(channel_id)).fetchall()[0][0]
        return count

    async def count(self, channel_id: int, message_id: int) -> Arrival:
        def work(connection: sqlite3.Connection) -> Arrival:
            count = self._bump_ids(connection, channel_id, message_id)
            return Arrival(new=count is not None, count=count)

        return await self._write(work)

    async def channel_count(self, channel_id: int) -> int:
        def read(connection: sqlite3.Connection) -> int:
            row = connection.execute(sql.CHANNEL_COUNT, _params(channel_id)).fetchone()
            return int(row[0]) if row is not None else 0

        return await self._read(read)

    async def edit(self, message_id: int, content: str, edited_at: datetime) -> bool:
        values = _params(message_id, self._seal(content), _micros(edited_at))
        return await self._write(
            lambda connection: bool(connection.execute(sql.EDIT, values).fetchall()),
            removes=True,  # the old text
        )

    async def delete(self, message_id: int) -> bool:
        return await self._write(
            lambda connection: bool(connection.execute(sql.DELETE, _params(message_id)).fetchall()),
            removes=True,
        )

    async def delete_many(self, message_ids: Sequence[int]) -> int:
        """Delete every message of `message_ids` in one write; returns how many were there."""
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return 0

        def work(connection: sqlite3.Connection) -> int:
            return sum(
                len(connection.execute(sql.DELETE, _params(message_id)).fetchall())
                for message_id in ids
            )

        return await self._write(work, removes=True)

    async def last_in_channel(
        self, channel_id: int, limit: int, *, up_to: int | None = None
    ) -> list[StoredMessage]:
        if limit <= 0:
            return []
        if up_to is None:
            statement, values = sql.LAST_IN_CHANNEL, _params(channel_id, limit)
        else:
            statement, values = sql.LAST_IN_CHANNEL_UP_TO, _params(channel_id, up_to, limit)
        rows = await self._read(lambda connection: connection.execute(statement, values).fetchall())
        return self._messages(rows)

    async def last_by_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[StoredMessage]:
        if limit <= 0:
            return []
        values = _params(guild_id, author_id, limit)
        rows = await self._read(
            lambda connection: connection.execute(sql.LAST_BY_AUTHOR, values).fetchall()
        )
        return self._messages(rows)

    async def forget_author(self, guild_id: int, author_id: int) -> int:
        return await self._write(
            lambda connection: _delete_in_batches(
                connection, sql.FORGET_AUTHOR_BATCH, guild_id, author_id
            ),
            removes=True,
        )

    async def delete_older_than(self, cutoff: datetime) -> int:
        before = _micros(cutoff)

        def work(connection: sqlite3.Connection) -> int:
            deleted = _delete_in_batches(connection, sql.EXPIRE_MESSAGES_BATCH, before)
            # Old enough that Discord will not replay them: their counted ids can go too.
            _delete_in_batches(connection, sql.EXPIRE_COUNTED_BATCH, before)
            return deleted

        deleted = await self._write(work, removes=True)
        if deleted:  # give the freed pages back to the file system
            await self._write(
                lambda connection: connection.execute("PRAGMA incremental_vacuum").fetchall()
            )
        return deleted

    async def messages_of_author(
        self, author_id: int, *, after: int = 0, limit: int
    ) -> list[StoredMessage]:
        if limit <= 0:
            return []
        rows = await self._read(_rows(sql.MESSAGES_OF_AUTHOR, _params(author_id, after, limit)))
        return [self._message(row) for row in rows]

    async def forget_author_everywhere(self, author_id: int) -> int:
        return await self._write(
            lambda connection: _delete_in_batches(
                connection, sql.FORGET_AUTHOR_EVERYWHERE_BATCH, author_id
            ),
            removes=True,
        )

    async def forget_guild(self, guild_id: int, channel_ids: Collection[int] = ()) -> int:
        def work(connection: sqlite3.Connection) -> int:
            found = connection.execute(sql.GUILD_CHANNELS, _params(guild_id)).fetchall()
            for channel_id in {row[0] for row in found} | set(channel_ids):
                connection.execute(sql.FORGET_CHANNEL_COUNT, _params(channel_id))
                _delete_in_batches(connection, sql.FORGET_CHANNEL_COUNTED_BATCH, channel_id)
            return _delete_in_batches(connection, sql.FORGET_GUILD_BATCH, guild_id)

        deleted = await self._write(work, removes=True)
        if deleted:  # give the freed pages back to the file system
            await self._write(
                lambda connection: connection.execute("PRAGMA incremental_vacuum").fetchall()
            )
        return deleted

    async def guilds_with_messages(self) -> set[int]:
        rows = await self._read(_rows(sql.GUILDS_WITH_MESSAGES, {}))
        return {int(row[0]) for row in rows}

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._queue.put(_STOP)
        await asyncio.to_thread(self._writer.join)
        self._readers.shutdown(wait=True)
        self._files.shutdown(wait=True)
        with self._lock:
            for connection in self._reader_connections:
                connection.close()
            self._reader_connections.clear()

    # -- StateStore ---------------------------------------------------------------------------

    def _seal_state(self, document: Document) -> str:
        if self._cipher is not None:
            document = {"sealed": self._cipher.seal(json.dumps(document, ensure_ascii=False))}
        return json.dumps(document, ensure_ascii=False)

    def _sealed_state(self, document: Document) -> Document:
        if self._cipher is None:
            return copy.deepcopy(document)  # the caller's dict never aliases the stored one
        return {"sealed": self._cipher.seal(json.dumps(document, ensure_ascii=False))}

    def _open_state(self, stored: Document) -> Document:
        if self._cipher is None:
            return copy.deepcopy(stored)
        opened: Document = json.loads(self._cipher.open(stored["sealed"]))
        return opened

    @staticmethod
    def _kind(kind: StateKind) -> StateKind:
        if kind not in STATE_KINDS:
            raise ValueError(f"not a state kind: {kind!r}")
        return kind

    async def get_state(self, kind: StateKind, key: str) -> Document | None:
        if self._kind(kind) in SERVER_KINDS:
            stored = await self._in_files(lambda: self._servers.get(kind, key))
            return self._open_state(stored) if stored is not None else None

        def read(connection: sqlite3.Connection) -> Document | None:
            row = connection.execute(sql.GET_STATE, _params(kind, key)).fetchone()
            return self._open_state(json.loads(row[0])) if row is not None else None

        return await self._read(read)

    async def put_state(self, kind: StateKind, key: str, document: Document) -> None:
        if self._kind(kind) in SERVER_KINDS:
            stored = self._sealed_state(document)
            self._servers.path_of(key)  # a bad key is refused here, on the caller's side
            await self._in_files(lambda: self._servers.put(kind, key, stored))
            return
        text = self._seal_state(document)

        def work(connection: sqlite3.Connection) -> None:
            connection.execute(sql.PUT_STATE, _params(kind, key, text))

        await self._write(work, removes=True)  # the document it replaces goes

    async def update_state(
        self, kind: StateKind, key: str, change: Callable[[Document | None], Document | None]
    ) -> Document | None:
        # `change` runs in the thread that owns the kind's storage, between the read and the
        # one write: no other write of that key comes in between.
        if self._kind(kind) in SERVER_KINDS:
            self._servers.path_of(key)

            def change_file() -> Document | None:
                stored = self._servers.get(kind, key)
                changed = change(self._open_state(stored) if stored is not None else None)
                if changed is None:
                    self._servers.delete(kind, key)
                    return None
                self._servers.put(kind, key, self._sealed_state(changed))
                return copy.deepcopy(changed)

            return await self._in_files(change_file)

        def work(connection: sqlite3.Connection) -> Document | None:
            row = connection.execute(sql.GET_STATE, _params(kind, key)).fetchone()
            changed = change(self._open_state(json.loads(row[0])) if row is not None else None)
            if changed is None:
                connection.execute(sql.DELETE_STATE, _params(kind, key)).fetchall()
                return None
            connection.execute(sql.PUT_STATE, _params(kind, key, self._seal_state(changed)))
            return copy.deepcopy(changed)

        return await self._write(work, removes=True)

    async def delete_state(self, kind: StateKind, key: str) -> bool:
        if self._kind(kind) in SERVER_KINDS:
            self._servers.path_of(key)
            return await self._in_files(lambda: self._servers.delete(kind, key))
        return await self._write(
            lambda connection: bool(
                connection.execute(sql.DELETE_STATE, _params(kind, key)).fetchall()
            ),
            removes=True,
        )

    async def state_items(self, kind: StateKind) -> list[tuple[str, Document]]:
        if self._kind(kind) in SERVER_KINDS:
            items = await self._in_files(lambda: self._servers.items(kind))
            return [(key, self._open_state(stored)) for key, stored in items]

        def read(connection: sqlite3.Connection) -> list[tuple[str, Document]]:
            rows = connection.execute(sql.STATE_ITEMS, _params(kind)).fetchall()
            return [(key, self._open_state(json.loads(text))) for key, text in rows]

        return await self._read(read)

    # -- LeaseStore ---------------------------------------------------------------------------

    async def try_acquire(self, name: str, owner: str, ttl_seconds: float) -> bool:
        def work(connection: sqlite3.Connection) -> bool:
            now = self._clock()
            values = _params(name, owner, now + ttl_seconds, now)
            return bool(connection.execute(_TAKE_LEASE, values).fetchall())

        return await self._write(work)

    async def release(self, name: str, owner: str) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute(sql.RELEASE_LEASE, _params(name, owner))

        await self._write(work)

    async def lease_holder(self, name: str) -> LeaseHolder | None:
        now = self._clock()
        row = await self._read(
            lambda connection: connection.execute(_LEASE_HOLDER, _params(name, now)).fetchone()
        )
        if row is None:
            return None
        return LeaseHolder(owner=row[0], seconds_left=float(row[1]) - now)

    # -- UsageStore ---------------------------------------------------------------------------

    async def add_usage(self, usage: UsageRow) -> None:
        values = _params(
            usage.day.isoformat(),
            usage.guild_id,
            usage.channel_id,
            usage.member_id,
            usage.kind,
            usage.prompt,
            usage.completion,
            usage.cached,
            usage.calls,
        )

        def work(connection: sqlite3.Connection) -> None:
            connection.execute(sql.ADD_USAGE, values)

        await self._write(work)  # counts, like a beat: a group of adds commits NORMAL

    async def usage_for(self, guild_id: int, since: date) -> list[UsageRow]:
        values = _params(guild_id, since.isoformat())
        rows = await self._read(_rows(sql.USAGE_FOR, values))
        return [_usage_row(row) for row in rows]

    async def delete_usage_before(self, day: date) -> int:
        return await self._write(
            lambda connection: _delete_in_batches(
                connection, sql.EXPIRE_USAGE_BATCH, day.isoformat()
            ),
            durable=True,
        )

    async def forget_member_usage(self, guild_id: int, member_id: int) -> int:
        values = _params(guild_id, member_id)
        return await self._write(
            lambda connection: connection.execute(sql.FORGET_MEMBER_USAGE, values).rowcount,
            durable=True,  # a power loss must not bring a forgotten member's rows back
        )

    async def usage_of_member(self, member_id: int) -> list[UsageRow]:
        rows = await self._read(_rows(sql.USAGE_OF_MEMBER, _params(member_id)))
        return [_usage_row(row) for row in rows]

    async def forget_member_usage_everywhere(self, member_id: int) -> int:
        values = _params(member_id)
        return await self._write(
            lambda connection: (
                connection.execute(sql.FORGET_MEMBER_USAGE_EVERYWHERE, values).rowcount
            ),
            durable=True,
        )

    async def forget_guild_usage(self, guild_id: int) -> int:
        values = _params(guild_id)
        return await self._write(
            lambda connection: connection.execute(sql.FORGET_GUILD_USAGE, values).rowcount,
            durable=True,
        )

    async def guilds_with_usage(self) -> set[int]:
        rows = await self._read(_rows(sql.GUILDS_WITH_USAGE, {}))
        return {int(row[0]) for row in rows}

    # -- export (python -m app migrate-store) -------------------------------------------------

    async def message_count(self) -> int:
        return await self._read(
            lambda connection: int(connection.execute(sql.MESSAGE_COUNT).fetchone()[0])
        )

    async def all_usage(self) -> list[UsageRow]:
        """Every token usage row (ids and counts: a few per member and day)."""
        return [_usage_row(row) for row in await self._read(_rows(sql.ALL_USAGE, {}))]

    async def channel_counts(self) -> dict[int, int]:
        """Every channel's beat count (channels never counted are not there)."""
        rows = await self._read(
            lambda connection: connection.execute(sql.CHANNEL_COUNTS).fetchall()
        )
        return {int(channel): int(n) for channel, n in rows}

    async def export_messages(
        self, *, after: int | None = None, batch: int = EXPORT_BATCH, sealed: bool = False
    ) -> MessageExport:
        """Every stored message with an id above `after` (all without it), in id order, in
        batches of `batch`. With `sealed` (and a cipher), names and texts are handed out as
        stored, never opened: for a store that seals with the same key. Each batch is its own
        read, so a message removed meanwhile is left out, and one added meanwhile may be in."""
        start = after if after is not None else -1
        total = await self._read(
            lambda connection: int(connection.execute(_COUNT_AFTER, _params(start)).fetchone()[0])
        )

        async def batches() -> AsyncIterator[list[StoredMessage]]:
            last = start
            while True:
                rows = await self._read(_rows(_MESSAGES_AFTER, _params(last, batch)))
                if not rows:
                    return
                last = rows[-1][0]
                yield [self._message(row, sealed=sealed) for row in rows]

        return MessageExport(total=total, batches=batches())


def _rows(statement: str, values: dict[str, object]) -> Callable[[sqlite3.Connection], list[Any]]:
    """A read of every row `statement` gives with `values`."""
    return lambda connection: connection.execute(statement, values).fetchall()


def _usage_row(row: Sequence[Any]) -> UsageRow:
    return UsageRow(
        day=date.fromisoformat(row[0]),
        guild_id=row[1],
        channel_id=row[2],
        member_id=row[3],
        kind=row[4],
        prompt=row[5],
        completion=row[6],
        cached=row[7],
        calls=row[8],
    )


def _delete_in_batches(connection: sqlite3.Connection, statement: str, *values: object) -> int:
    total = 0
    while True:
        deleted = connection.execute(statement, _params(*values, BATCH)).rowcount
        total += deleted
        if deleted < BATCH:
            return total


def _settle(
    future: concurrent.futures.Future[Any], result: Any, error: BaseException | None
) -> None:
    """Answer a write's caller, unless it stopped waiting (cancelled: the write stands)."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
