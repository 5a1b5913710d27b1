"""`PostgresStore`: the store ports in PostgreSQL, through asyncpg (the only module that imports
it), for a bot that outgrows one process or one machine (`DATABASE_URL`).

The SQL keeps to what PostgreSQL, CockroachDB and YugabyteDB all run: bigint, text, boolean,
timestamptz and jsonb columns, primary keys, btree indexes, `ON CONFLICT`, `RETURNING`, short
transactions. No advisory locks, LISTEN/NOTIFY, sequences, triggers, stored procedures,
`LOCK TABLE`, nor DDL inside a multi-statement transaction.

How the port's promises are kept:

- The beat count rides with the message: one statement (data-modifying CTEs) inserts the
  message (`ON CONFLICT (message_id) DO NOTHING`), records its id in `counted_messages` (the
  same), and only for the ids that are new bumps `channel_counters` (`ON CONFLICT (channel_id)
  DO UPDATE SET n = n + k RETURNING n`). A gateway replay changes nothing and is not counted.
- Group commit, in call order: `add` and `count` join one queue, in call order; one writer
  takes everything queued and writes it as one statement (`unnest ... WITH ORDINALITY`, at most
  `GROUP_LIMIT` rows), committed on its own, then answers the callers; while it is in flight
  the next group gathers. So writes commit, and are counted, in call order, and eight callers
  cost one round trip and one WAL flush, not eight (an explicit BEGIN and COMMIT would add two
  round trips, ~1.3 ms here). The price: a write the database holds up (a row lock held by
  another process) holds up those queued behind it, of every channel. An edit, a delete, a
  forget or an expiry first waits for the adds called before it, so it finds their messages
  (a forget right after a member's last message leaves nothing of them).
- A group's rows carry a random `write_id`. When the connection breaks before the answer, the
  writer reads back the rows of that id: saved (its answer rebuilt from them: each counted row's
  count is its channel's total, which nothing can have bumped since, less the rows counted
  after it), or not (it runs again). A channel has one writer: this store's, in the process
  that owns its guild (see DESIGN.md).
- `update_state` locks the row (creating a placeholder row in the same transaction when there is
  none, which no reader ever sees), calls `change` once, writes and commits: no other write to
  that key in between, across processes too. `change` may run again on a retry (a
  serialization failure, or the connection lost before the commit), so it should not have side
  effects.
- A connection lost (the server restarted, a failover): an operation is retried on a new
  connection with backoff, at least once and until the outage has lasted `retry_seconds` (30 s
  by default); the outage is logged once, its end once. Then it raises `StoreUnavailableError`
  (and the next operations fail as fast until the server answers again), so an `add` that did not
  reach the database is never acknowledged (nor counted). When the connection drops where the
  change may have been saved, an `add` reads back its write id (above); other writes are
  idempotent, except `update_state`, which then raises rather than apply `change` twice, and
  `add_usage` (an additive upsert), which raises rather than count the tokens twice.
- Transactions that lose a conflict (SQLSTATE 40001, or 40P01) are retried a few times.
- Leases (the shards a process runs, whose turn it is to IDENTIFY): one statement on the
  `leases` table, `INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE leases.expires_at < now()
  OR leases.owner = EXCLUDED.owner RETURNING owner`; expiries are the server's clock, so
  processes whose machines' clocks disagree still agree on who holds a lease.

With a `ContentCipher`, message texts and authors' names are sealed before they leave the
process, and a state document is stored as `{"sealed": token}`. `store_meta` records whether the
database is encrypted, with a token sealed by the key, so a missing, wrong or newly added key
stops the bot with one line (`EncryptionKeyError`) instead of unreadable or half-sealed data.

Schema changes are the numbered files in `migrations/` (`0001_initial.sql`, ...), applied at
open (or by `python -m app migrate`) under a lease row, statement by statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import random
import re
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from typing import Any, TypeVar

import asyncpg

from services.background import BackgroundTasks
from services.privacy.encryption import EncryptionKeyError
from services.store import sql
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

T = TypeVar("T")

log = logging.getLogger(__name__)

Connection = Any  # asyncpg.Connection (asyncpg ships no type hints)

RETRY_SECONDS = 30.0  # how long an operation keeps trying while PostgreSQL is unreachable
CONFLICT_ATTEMPTS = 5  # tries of a transaction that loses a serialization conflict
CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 30.0
BATCH = 5_000  # rows per transaction when forgetting or expiring many
MIGRATION_LEASE = "schema-migrations"
LEASE_SECONDS = 60.0  # a lease not renewed for this long is free again (its holder died)
MIGRATION_WAIT_SECONDS = 300.0  # how long a process waits for another one's migrations

_CHECK = "discord-azure-bot"
_MIGRATION_FILE = re.compile(r"(?P<version>\d{4})_[a-z0-9_]+\.sql")

_COLUMNS = sql.MESSAGE_COLUMNS
GROUP_LIMIT = 200  # writes per group (one statement) at most
# A group of adds and counts in one statement. `kept` rows are messages (a count alone is not
# kept). For each row, in order: whether it was new, whether it was counted, and its channel's
# total after the bump (each counted row's own count is that total less the counted rows after
# it in the group: `_arrivals`).
_WRITE_GROUP = (
    "WITH input AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], "
    "$4::bigint[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], "
    "$9::boolean[], $10::text[], $11::boolean[], $12::boolean[]) WITH ORDINALITY AS input ("
    f"{_COLUMNS}, kept, counted, place)), "
    f"stored AS (INSERT INTO messages ({_COLUMNS}, write_id) SELECT {_COLUMNS}, $13 FROM input "
    "WHERE kept ON CONFLICT (message_id) DO NOTHING RETURNING message_id), "
    "counted AS (INSERT INTO counted_messages (message_id, channel_id, counted_at, write_id) "
    "SELECT message_id, channel_id, now(), $13 FROM input WHERE counted "
    "AND (NOT kept OR message_id IN (SELECT message_id FROM stored)) "
    "ON CONFLICT (message_id) DO NOTHING RETURNING message_id, channel_id), "
    "bumped AS (INSERT INTO channel_counters (channel_id, n) "
    "SELECT channel_id, count(*) FROM counted GROUP BY channel_id "
    "ON CONFLICT (channel_id) DO UPDATE SET n = channel_counters.n + EXCLUDED.n "
    "RETURNING channel_id, n) "
    "SELECT CASE WHEN input.kept THEN stored.message_id IS NOT NULL "
    "ELSE counted.message_id IS NOT NULL END AS new, counted.message_id IS NOT NULL AS counted, "
    "bumped.n AS total FROM input LEFT JOIN stored ON stored.message_id = input.message_id "
    "LEFT JOIN counted ON counted.message_id = input.message_id "
    "LEFT JOIN bumped ON bumped.channel_id = input.channel_id ORDER BY input.place"
)
# What a group write did, read back by its write id after its answer was lost: the same
# columns as `_WRITE_GROUP`'s; `new` and `counted` false everywhere when it did not commit (or
# wrote nothing).
_WRITTEN_BY = (
    "SELECT coalesce(CASE WHEN input.kept THEN messages.write_id = $4 "
    "ELSE counted_messages.write_id = $4 END, false) AS new, "
    "coalesce(counted_messages.write_id = $4, false) AS counted, channel_counters.n AS total "
    "FROM unnest($1::bigint[], $2::bigint[], $3::boolean[]) WITH ORDINALITY "
    "AS input (message_id, channel_id, kept, place) "
    "LEFT JOIN messages ON messages.message_id = input.message_id "
    "LEFT JOIN counted_messages ON counted_messages.message_id = input.message_id "
    "LEFT JOIN channel_counters ON channel_counters.channel_id = input.channel_id "
    "ORDER BY input.place"
)
_COPY_COLUMNS = [name.strip() for name in _COLUMNS.split(",")]
_IMPORT_MESSAGES = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::bigint[], "
    "$3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], "
    "$9::boolean[], $10::text[]) ON CONFLICT (message_id) DO NOTHING"
)
_TOO_SLOW = (TimeoutError, asyncpg.exceptions.QueryCanceledError)
_IMPORT_PREFIX = "import:"  # store_meta rows recording how far an import got
_COPY_REFUSED: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.UniqueViolationError,  # some of the batch is there already
    asyncpg.exceptions.FeatureNotSupportedError,  # an engine without binary COPY
)


class StoreUnavailableError(StoreOutageError):
    """PostgreSQL could not be reached, or refused us; the message is one line, without the
    URL (it holds a password)."""


class StoreSchemaError(Exception):
    """The database's schema is not one this release can use; the message is one line."""


# -- errors ---------------------------------------------------------------------------------

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # connect or command timeout
    asyncpg.exceptions.PostgresConnectionError,  # class 08, ConnectionDoesNotExistError among them
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up, shutting down
    asyncpg.exceptions.AdminShutdownError,  # 57P01: pg_terminate_backend, a fast shutdown
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
)
_CONFLICTS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.SerializationError,  # 40001
    asyncpg.exceptions.DeadlockDetectedError,  # 40P01
)


def _connection_lost(error: BaseException) -> bool:
    if isinstance(error, _CONNECTION_ERRORS):
        return True
    text = str(error)
    # "connection is closed", "connection was closed in the middle of operation"; not "pool is
    # closed" (this store was closed) nor a misuse of the API.
    if isinstance(error, asyncpg.exceptions.InterfaceError):
        return "connection" in text and "closed" in text
    # An idle connection the server has just terminated (pg_terminate_backend, a shutdown): the
    # FATAL message has arrived, the end of the socket not yet, and the protocol is stuck
    # waiting for a ReadyForQuery that never comes.
    return isinstance(error, asyncpg.exceptions.InternalClientError) and (
        "another operation" in text
    )


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- connections ----------------------------------------------------------------------------


_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _encode_json(document: object) -> str:
    """JSON for a jsonb column, which takes any string but one with a NUL character (replaced:
    an escape is a backslash after an even number of them)."""
    return _JSON_NUL.sub(r"\1\\ufffd", json.dumps(document, ensure_ascii=False))


async def _init_connection(connection: Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=_encode_json, decoder=json.loads, schema="pg_catalog"
    )


async def _keep_session(connection: Connection) -> None:
    """The pool's reset of a connection it takes back, less asyncpg's default query (RESET ALL,
    UNLISTEN, advisory unlocks: one more round trip per operation): this store changes no
    session state. An open transaction is still rolled back, by asyncpg, before this runs."""


_SERVER_SETTINGS = {"application_name": "discord-azure-bot"}


async def _connect(url: str, retry_seconds: float) -> Connection:
    """One connection (for migrations), retried while the server is unreachable."""
    deadline = asyncio.get_running_loop().time() + retry_seconds
    delay = 0.1
    while True:
        try:
            connection = await asyncpg.connect(
                url,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                server_settings=_SERVER_SETTINGS,
            )
        except Exception as error:
            if not _connection_lost(error):
                raise _refused(error) from None
            if asyncio.get_running_loop().time() + delay > deadline:
                raise StoreUnavailableError(
                    f"PostgreSQL (DATABASE_URL) could not be reached: {_reason(error)}."
                ) from None
            if delay == 0.1:
                log.warning(
                    "PostgreSQL is not reachable yet (%s); trying for up to %g s",
                    _reason(error),
                    retry_seconds,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        await _init_connection(connection)
        return connection


def _refused(error: BaseException) -> StoreUnavailableError:
    if isinstance(error, asyncpg.exceptions.PostgresError):
        return StoreUnavailableError(
            f"PostgreSQL refused the connection (DATABASE_URL): {_one_line(str(error))}."
        )
    # A malformed URL: asyncpg's message may quote it, password included.
    return StoreUnavailableError(
        f"DATABASE_URL is not a usable PostgreSQL URL ({type(error).__name__})."
    )


# -- migrations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> tuple[str, ...]:
    """The statements of a migration file: `--` comments dropped, split at each `;`."""
    kept = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return tuple(part.strip() for part in kept.split(";") if part.strip())


def known_migrations() -> tuple[Migration, ...]:
    """The migrations this release ships, in order; numbered 1, 2, 3... without gaps."""
    folder = resources.files("services.store").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match is None:
            continue
        statements = split_statements(entry.read_text(encoding="utf-8"))
        found.append(Migration(int(match["version"]), entry.name, statements))
    found.sort(key=lambda migration: migration.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {[m.name for m in found]}")
    return tuple(found)


# The two tables the migrator itself needs, created before any lease can be taken.
_BOOTSTRAP = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS leases ("
    "name text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL)",
)


async def _bootstrap(connection: Connection) -> None:
    for statement in _BOOTSTRAP:
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                await connection.execute(statement)
            except (  # two processes created it at once: the other one did
                asyncpg.exceptions.UniqueViolationError,
                asyncpg.exceptions.DuplicateTableError,
                asyncpg.exceptions.DuplicateObjectError,
            ):
                break
            except _CONFLICTS:  # CockroachDB may ask for a retry instead
                if attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0, 0.05))
            else:
                break


def lease_owner() -> str:
    """Who holds a lease: host, process and a random tag (a pid is reused across hosts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def take_lease(connection: Connection, name: str, owner: str, seconds: float) -> bool:
    """Take (or renew) the lease `name` for `seconds`: True when `owner` holds it now."""
    held = await connection.fetchval(
        "INSERT INTO leases (name, owner, expires_at) "
        "VALUES ($1, $2, now() + $3::float8 * interval '1 second') "
        "ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at "
        "WHERE leases.expires_at < now() OR leases.owner = EXCLUDED.owner "
        "RETURNING owner",
        name,
        owner,
        seconds,
    )
    return held is not None


async def release_lease(connection: Connection, name: str, owner: str) -> None:
    await connection.execute(sql.RELEASE_LEASE, name, owner)


@contextlib.asynccontextmanager
async def _renewed(url: str, name: str, owner: str) -> AsyncIterator[None]:
    """Keep renewing the lease (on a connection of its own) while the block runs, so a long
    statement does not let it expire under us."""
    renewer = await _connect(url, retry_seconds=0)

    async def renew() -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 4)
            if not await take_lease(renewer, name, owner, LEASE_SECONDS):
                log.error("the %s lease was taken by another process", name)
                return

    tasks = BackgroundTasks()
    tasks.spawn(renew(), "lease renewal", lease=name)
    try:
        yield
    finally:
        await tasks.close()
        with contextlib.suppress(Exception):
            await renewer.close()


async def _applied_versions(connection: Connection) -> set[int]:
    rows = await connection.fetch("SELECT version FROM schema_migrations")
    return {int(row["version"]) for row in rows}


def _refuse_newer(applied: set[int], migrations: tuple[Migration, ...]) -> None:
    latest = migrations[-1].version
    newest = max(applied, default=0)
    if newest > latest:
        raise StoreSchemaError(
            f"The database's schema is at version {newest}, newer than this release knows "
            f"({latest}): run the release that migrated it, or a newer one."
        )


async def _migrate_on(
    connection: Connection, url: str, *, wait_seconds: float = MIGRATION_WAIT_SECONDS
) -> list[int]:
    """Apply the missing migrations; the versions this call applied (none: already current).

    Under the lease row `schema-migrations`: of two processes starting at once, one applies,
    the other polls until the schema is current. Each statement is sent on its own (DDL stays
    out of multi-statement transactions); the version is recorded after its last statement.
    """
    migrations = known_migrations()
    await _bootstrap(connection)
    owner = lease_owner()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        applied = await _applied_versions(connection)
        _refuse_newer(applied, migrations)
        if all(m.version in applied for m in migrations):
            return []
        if await take_lease(connection, MIGRATION_LEASE, owner, LEASE_SECONDS):
            try:
                async with _renewed(url, MIGRATION_LEASE, owner):
                    applied = await _applied_versions(connection)  # the other one may be done
                    _refuse_newer(applied, migrations)
                    done: list[int] = []
                    for migration in migrations:
                        if migration.version in applied:
                            continue
                        for statement in migration.statements:
                            await connection.execute(statement)
                        await connection.execute(
                            "INSERT INTO schema_migrations (version, applied_at) "
                            "VALUES ($1, now()) ON CONFLICT (version) DO NOTHING",
                            migration.version,
                        )
                        log.info("applied migration %s", migration.name)
                        done.append(migration.version)
                    return done
            finally:
                with contextlib.suppress(Exception):
                    await release_lease(connection, MIGRATION_LEASE, owner)
        if loop.time() > deadline:
            raise StoreSchemaError(
                f"Another process has been migrating the database for over {wait_seconds:g} s "
                f"(the {MIGRATION_LEASE!r} lease): wait for it, or check that it is alive."
            )
        await asyncio.sleep(0.2)


async def migrate(url: str, *, retry_seconds: float = 0.0) -> list[int]:
    """Bring the database's schema up to this release; the versions applied (none: current).

    Raises `StoreUnavailableError` (unreachable, refused) or `StoreSchemaError` (newer than
    this release), each with a one-line message.
    """
    connection = await _connect(url, retry_seconds)
    try:
        return await _migrate_on(connection, url)
    except Exception as error:
        if _connection_lost(error):
            raise StoreUnavailableError(
                f"PostgreSQL connection lost while migrating: {_reason(error)}."
            ) from None
        if isinstance(error, asyncpg.exceptions.PostgresError):  # a privilege missing, say
            raise StoreSchemaError(
                f"Could not migrate the database: {_one_line(str(error))}."
            ) from None
        raise
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


async def schema_versions(url: str) -> tuple[set[int], int]:
    """The migrations applied to the database (none: a new one) and the latest this release
    knows, read without changing anything (for `python -m app check`). Raises
    `StoreUnavailableError` with a one-line message."""
    connection = await _connect(url, 0.0)
    try:
        exists = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
        )
        applied = await _applied_versions(connection) if exists else set()
    except Exception as error:
        if _connection_lost(error):
            raise StoreUnavailableError(f"PostgreSQL connection lost: {_reason(error)}.") from None
        if isinstance(error, asyncpg.exceptions.PostgresError):
            raise StoreUnavailableError(
                f"PostgreSQL refused to show the schema: {_one_line(str(error))}."
            ) from None
        raise
    finally:
        with contextlib.suppress(Exception):
            await connection.close()
    return applied, known_migrations()[-1].version


# -- the store ------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Text PostgreSQL accepts: no NUL character, no lone surrogate (both replaced)."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _row_count(status: str) -> int:
    """The row count of a `DELETE n` or `INSERT 0 n` status."""
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class _Row:
    """An add (`kept`) or a count alone, as the group statement takes it."""

    message_id: int
    channel_id: int
    kept: bool
    counted: bool
    guild_id: int | None = None
    author_id: int | None = None
    author_name: str | None = None
    content: str | None = None
    created_at: datetime | None = None
    edited_at: datetime | None = None
    from_bot: bool | None = None
    attachments: str | None = None  # as `attachments_text` writes them, sealed with a key


@dataclass(eq=False)
class _Write:
    """A row waiting to be written, and the caller waiting for it."""

    row: _Row
    arrival: asyncio.Future[Arrival]
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # written, or failed

    def answer(self, arrival: Arrival) -> None:
        if not self.arrival.done():  # done: its caller was cancelled, and is gone
            self.arrival.set_result(arrival)
        self.settled.set()

    def fail(self, error: BaseException) -> None:
        if not self.arrival.done():
            self.arrival.set_exception(error)
        self.settled.set()


def _next_group(queued: list[_Write]) -> list[_Write]:
    """Take the oldest writes, up to `GROUP_LIMIT`, stopping before a message id already in
    the group (a replay of a message still queued: it must see the first one written)."""
    group: list[_Write] = []
    ids: set[int] = set()
    for write in queued[:GROUP_LIMIT]:
        if write.row.message_id in ids:
            break
        ids.add(write.row.message_id)
        group.append(write)
    del queued[: len(group)]
    return group


def _columns(group: list[_Write]) -> list[list[object]]:
    """The group as the statement's twelve arrays, in its column order."""
    rows = [write.row for write in group]
    return [
        [row.message_id for row in rows],
        [row.guild_id for row in rows],
        [row.channel_id for row in rows],
        [row.author_id for row in rows],
        [row.author_name for row in rows],
        [row.content for row in rows],
        [row.created_at for row in rows],
        [row.edited_at for row in rows],
        [row.from_bot for row in rows],
        [row.attachments for row in rows],
        [row.kept for row in rows],
        [row.counted for row in rows],
    ]


def _arrivals(group: list[_Write], rows: Sequence[Any]) -> list[Arrival]:
    """Each write's arrival from the group statement's rows: a counted row's count is its
    channel's new total less the rows of that channel counted after it."""
    after: dict[int, int] = {}  # channel: rows counted later in the group
    arrivals: list[Arrival] = []
    for write, row in zip(reversed(group), reversed(rows), strict=True):
        count = None
        if row["counted"]:
            channel = write.row.channel_id
            count = int(row["total"]) - after.get(channel, 0)
            after[channel] = after.get(channel, 0) + 1
        arrivals.append(Arrival(new=row["new"], count=count))
    return arrivals[::-1]


class PostgresStore:
    """`MessageStore`, `StateStore`, `LeaseStore` and `UsageStore` in PostgreSQL. Open it with
    `PostgresStore.open`."""

    def __init__(
        self, pool: Any, *, cipher: ContentCipher | None, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._retry_seconds = retry_seconds
        self._queued: list[_Write] = []  # adds and counts not yet written, oldest first
        self._writer: asyncio.Task[None] | None = None  # while there is a queue
        self._last_queued: _Write | None = None
        self._tasks = BackgroundTasks()
        self._outage_since: float | None = None  # loop time when the connection was lost

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        cipher: ContentCipher | None = None,
        pool_size: int = 10,
        retry_seconds: float | None = None,
    ) -> PostgresStore:
        """Connect, bring the schema up to date, check the key against the database.

        An unreachable server is tried again for `retry_seconds` (default `RETRY_SECONDS`), at
        the start as later. Raises `StoreUnavailableError`, `StoreSchemaError` or
        `EncryptionKeyError`, each with a one-line message.
        """
        if retry_seconds is None:
            retry_seconds = RETRY_SECONDS
        await migrate(url, retry_seconds=retry_seconds)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                init=_init_connection,
                reset=_keep_session,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                server_settings=_SERVER_SETTINGS,
            )
        except Exception as error:
            if _connection_lost(error):
                raise StoreUnavailableError(
                    f"PostgreSQL (DATABASE_URL) could not be reached: {_reason(error)}."
                ) from None
            raise _refused(error) from None
        store = cls(pool, cipher=cipher, retry_seconds=retry_seconds)
        try:
            await store._check_key()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        """Let the operations in flight finish, then close every connection."""
        if self._writer is not None:
            await asyncio.wait([self._writer], timeout=COMMAND_TIMEOUT)
        await self._tasks.close()
        try:
            await asyncio.wait_for(self._pool.close(), timeout=COMMAND_TIMEOUT)
        except TimeoutError:
            self._pool.terminate()

    # -- running SQL ------------------------------------------------------------------------

    async def _run(
        self,
        work: Callable[[Connection], Awaitable[T]],
        *,
        transaction: bool = True,
        recover: Callable[[Connection], Awaitable[T | None]] | None = None,
        idempotent: bool = True,
    ) -> T:
        """Run `work` on a pooled connection, in a transaction unless told otherwise.

        A lost connection is retried on a new one with backoff: at least once, and until the
        outage (shared by every operation of the store) has lasted `retry_seconds`; then
        `StoreUnavailableError`. A conflict (40001, 40P01) is retried `CONFLICT_ATTEMPTS`
        times. When the connection is lost where the work may have been saved (during the
        COMMIT, or during a `work` that commits on its own), `recover` reads back what it did
        (returned then), or None when it was not saved (it runs again); without one, an
        `idempotent` work simply runs again and any other raises.
        """
        loop = asyncio.get_running_loop()
        delay = 0.05
        conflicts = failures = 0
        while True:
            stage = "work"
            try:
                async with self._pool.acquire() as connection:
                    if transaction:
                        async with connection.transaction():
                            result = await work(connection)
                            stage = "commit"
                    else:
                        result = await work(connection)
                    stage = "done"
                    self._connected()
                    return result
            except _CONFLICTS:
                conflicts += 1
                if conflicts >= CONFLICT_ATTEMPTS:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * 2**conflicts))
                continue
            except Exception as error:
                if not _connection_lost(error):
                    raise
                if stage == "done":  # broke on the way back to the pool; the pool replaces it
                    return result
                unsure = stage == "commit" or not transaction
                if unsure and recover is None and not idempotent:
                    raise StoreUnavailableError(
                        "PostgreSQL connection lost during a commit: the change may or may not "
                        f"have been saved ({_reason(error)})."
                    ) from None
                failures += 1
                since = self._disconnected(error)
                lasted = loop.time() - since
                if failures > 1 and lasted + delay > self._retry_seconds:
                    raise StoreUnavailableError(
                        f"PostgreSQL has been unreachable for {lasted:.0f} s: {_reason(error)}."
                    ) from None
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 2.0)
                if unsure and recover is not None:
                    recovered = await self._run(recover, transaction=False)
                    if recovered is not None:
                        return recovered

    def _disconnected(self, error: BaseException) -> float:
        """Note the outage (logged once, when it starts); when it started."""
        if self._outage_since is None:
            self._outage_since = asyncio.get_running_loop().time()
            log.warning(
                "PostgreSQL connection lost (%s); retrying for up to %g s",
                _reason(error),
                self._retry_seconds,
            )
        return self._outage_since

    def _connected(self) -> None:
        if self._outage_since is not None:
            lasted = asyncio.get_running_loop().time() - self._outage_since
            self._outage_since = None
            log.warning("PostgreSQL reachable again after %.1f s", lasted)

    # -- encryption -------------------------------------------------------------------------

    async def _check_key(self) -> None:
        """Record on first use whether the database is encrypted; then hold the key to it."""

        async def recorded(connection: Connection) -> dict[str, Any]:
            value = await connection.fetchval(
                "SELECT value FROM store_meta WHERE name = 'encryption'"
            )
            if value is None:
                holds_data = await connection.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM state) "
                    "OR EXISTS (SELECT 1 FROM counted_messages)"
                )
                marker: dict[str, Any] = {"encrypted": self._cipher is not None}
                if holds_data:
                    marker = {"encrypted": False}  # written without a key, somehow
                elif self._cipher is not None:
                    marker["check"] = self._cipher.seal(_CHECK)
                await connection.execute(
                    "INSERT INTO store_meta (name, value) VALUES ('encryption', $1) "
                    "ON CONFLICT (name) DO NOTHING",
                    json.dumps(marker),
                )
                value = await connection.fetchval(  # another process may have been first
                    "SELECT value FROM store_meta WHERE name = 'encryption'"
                )
            found: dict[str, Any] = json.loads(value)
            return found

        marker = await self._run(recorded)
        if marker["encrypted"] and self._cipher is None:
            raise EncryptionKeyError(
                "The database (DATABASE_URL) is encrypted: set STORE_ENCRYPTION_KEY to its key."
            )
        if not marker["encrypted"] and self._cipher is not None:
            raise EncryptionKeyError(
                "The database (DATABASE_URL) holds unencrypted data: use an empty database to "
                "use STORE_ENCRYPTION_KEY, or unset it."
            )
        if self._cipher is not None:
            try:
                opened = self._cipher.open(marker["check"])
            except Exception:
                opened = None
            if opened != _CHECK:
                raise EncryptionKeyError(
                    "STORE_ENCRYPTION_KEY is not the key the database (DATABASE_URL) was "
                    "encrypted with."
                )

    def _seal(self, text: str) -> str:
        text = _clean(text)
        return self._cipher.seal(text) if self._cipher is not None else text

    def _open(self, stored: str) -> str:
        return self._cipher.open(stored) if self._cipher is not None else stored

    def _message(self, row: Any) -> StoredMessage:
        # Unpacked in `_COLUMNS` order: a read of 30 rows spends more here than in the server.
        message_id, guild_id, channel_id, author_id, name, content, created, edited, bot, files = (
            row
        )
        return StoredMessage(
            message_id,
            guild_id,
            channel_id,
            author_id,
            self._open(name),
            self._open(content),
            created,
            bot,
            edited,
            attachments_from_text(self._open(files)) if files is not None else (),
        )

    def _seal_attachments(self, attachments: Sequence[StoredAttachment]) -> str | None:
        text = attachments_text(attachments)
        return self._seal(text) if text is not None else None

    # -- messages ---------------------------------------------------------------------------

    async def _write(self, row: _Row) -> Arrival:
        """Queue an add or count (synchronously: call order is queue order), and wait for the
        group it is written in."""
        write = _Write(row, asyncio.get_running_loop().create_future())
        self._queued.append(write)
        self._last_queued = write
        if self._writer is None:
            self._writer = self._tasks.spawn(self._drain(), "PostgreSQL writes")
        return await write.arrival

    async def _after_queued_writes(self) -> None:
        """Wait until every add and count called before is written, or failed: an edit, a
        delete, a forget or an expiry called after an add must find its message (they do not
        go through the queue). Must be awaited first: the call's place is taken then."""
        last = self._last_queued
        if last is not None:
            await last.settled.wait()

    async def _drain(self) -> None:
        """Write the queue, a group at a time, until it is empty."""
        try:
            while self._queued:
                await self._commit(_next_group(self._queued))
        finally:
            self._writer = None
            for write in self._queued:  # only when cancelled (the store closed under it)
                write.fail(StoreUnavailableError("The PostgreSQL store was closed."))
            self._queued.clear()

    async def _commit(self, group: list[_Write]) -> None:
        """Write a group in one statement (committed on its own: one round trip) and answer
        its callers. When the database refuses it (not an outage), each write is tried alone,
        so only the bad one fails."""

        write_id = random.randint(1, 2**63 - 1)
        columns = _columns(group)

        async def write_group(connection: Connection) -> list[Arrival]:
            return _arrivals(group, await connection.fetch(_WRITE_GROUP, *columns, write_id))

        async def written(connection: Connection) -> list[Arrival] | None:
            ids, channels, kept = columns[0], columns[2], columns[10]
            rows = await connection.fetch(_WRITTEN_BY, ids, channels, kept, write_id)
            if not any(row["new"] or row["counted"] for row in rows):
                return None  # not saved, or it changed nothing: running it again is the same
            return _arrivals(group, rows)

        try:
            arrivals = await self._run(write_group, transaction=False, recover=written)
        except StoreUnavailableError as error:
            for write in group:
                write.fail(StoreUnavailableError(str(error)))
        except asyncio.CancelledError:
            for write in group:
                write.fail(StoreUnavailableError("The PostgreSQL store was closed."))
            raise
        except Exception as error:
            if len(group) == 1 or isinstance(error, _TOO_SLOW):  # alone it would be as slow
                for write in group:
                    write.fail(error)
            else:
                for write in group:
                    await self._commit([write])
        else:
            for write, arrival in zip(group, arrivals, strict=True):
                write.answer(arrival)

    async def add(self, message: StoredMessage, *, counted: bool) -> Arrival:
        return await self._write(
            _Row(
                message_id=message.message_id,
                guild_id=message.guild_id,
                channel_id=message.channel_id,
                author_id=message.author_id,
                author_name=self._seal(message.author_name),
                content=self._seal(message.content),
                created_at=message.created_at,
                edited_at=message.edited_at,
                from_bot=message.from_bot,
                attachments=self._seal_attachments(message.attachments),
                kept=True,
                counted=counted,
            )
        )

    async def count(self, channel_id: int, message_id: int) -> Arrival:
        return await self._write(
            _Row(message_id=message_id, channel_id=channel_id, kept=False, counted=True)
        )

    async def channel_count(self, channel_id: int) -> int:
        async def read(connection: Connection) -> int:
            n = await connection.fetchval(sql.CHANNEL_COUNT, channel_id)
            return int(n) if n is not None else 0

        return await self._run(read, transaction=False)

    async def edit(self, message_id: int, content: str, edited_at: datetime) -> bool:
        sealed = self._seal(content)
        await self._after_queued_writes()

        async def update(connection: Connection) -> bool:
            found = await connection.fetchval(
                sql.EDIT,
                message_id,
                sealed,
                edited_at,
            )
            return found is not None

        return await self._run(update, transaction=False)

    async def delete(self, message_id: int) -> bool:
        await self._after_queued_writes()

        async def remove(connection: Connection) -> bool:
            found = await connection.fetchval(sql.DELETE, message_id)
            return found is not None

        return await self._run(remove, transaction=False)

    async def delete_many(self, message_ids: Sequence[int]) -> int:
        await self._after_queued_writes()
        wanted = list(dict.fromkeys(message_ids))
        if not wanted:
            return 0

        async def remove(connection: Connection) -> int:
            status = await connection.execute(
                "DELETE FROM messages WHERE message_id = ANY($1::bigint[])", wanted
            )
            return int(status.split()[-1])  # "DELETE n"

        return await self._run(remove, transaction=False)

    async def last_in_channel(
        self, channel_id: int, limit: int, *, up_to: int | None = None
    ) -> list[StoredMessage]:
        if limit <= 0:
            return []

        async def read(connection: Connection) -> list[Any]:
            if up_to is None:
                return list(
                    await connection.fetch(
                        sql.LAST_IN_CHANNEL,
                        channel_id,
                        limit,
                    )
                )
            return list(
                await connection.fetch(
                    sql.LAST_IN_CHANNEL_UP_TO,
                    channel_id,
                    up_to,
                    limit,
                )
            )

        rows = await self._run(read, transaction=False)
        return [self._message(row) for row in reversed(rows)]

    async def last_by_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[StoredMessage]:
        if limit <= 0:
            return []

        async def read(connection: Connection) -> list[Any]:
            return list(
                await connection.fetch(
                    sql.LAST_BY_AUTHOR,
                    guild_id,
                    author_id,
                    limit,
                )
            )

        rows = await self._run(read, transaction=False)
        return [self._message(row) for row in reversed(rows)]

    async def _delete_in_batches(self, statement: str, *args: object) -> int:
        """Run a `DELETE ... LIMIT $n` statement until it deletes fewer than a batch: many
        short transactions rather than one long one (CockroachDB limits their size)."""
        total = 0
        while True:

            async def batch(connection: Connection) -> int:
                return _row_count(await connection.execute(statement, *args, BATCH))

            deleted = await self._run(batch, transaction=False)
            total += deleted
            if deleted < BATCH:
                return total

    async def forget_author(self, guild_id: int, author_id: int) -> int:
        await self._after_queued_writes()
        return await self._delete_in_batches(
            sql.FORGET_AUTHOR_BATCH,
            guild_id,
            author_id,
        )

    async def delete_older_than(self, cutoff: datetime) -> int:
        await self._after_queued_writes()
        deleted = await self._delete_in_batches(
            sql.EXPIRE_MESSAGES_BATCH,
            cutoff,
        )
        await self._delete_in_batches(  # old enough that Discord will not replay them
            sql.EXPIRE_COUNTED_BATCH,
            cutoff,
        )
        return deleted

    async def messages_of_author(
        self, author_id: int, *, after: int = 0, limit: int
    ) -> list[StoredMessage]:
        if limit <= 0:
            return []

        async def read(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.MESSAGES_OF_AUTHOR, author_id, after, limit))

        return [self._message(row) for row in await self._run(read, transaction=False)]

    async def forget_author_everywhere(self, author_id: int) -> int:
        await self._after_queued_writes()
        return await self._delete_in_batches(sql.FORGET_AUTHOR_EVERYWHERE_BATCH, author_id)

    async def forget_guild(self, guild_id: int, channel_ids: Collection[int] = ()) -> int:
        await self._after_queued_writes()

        async def channels(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.GUILD_CHANNELS, guild_id))

        found = {int(row[0]) for row in await self._run(channels, transaction=False)}
        for channel_id in found | set(channel_ids):

            async def forget_count(connection: Connection, channel_id: int = channel_id) -> None:
                await connection.execute(sql.FORGET_CHANNEL_COUNT, channel_id)

            await self._run(forget_count, transaction=False)
            await self._delete_in_batches(sql.FORGET_CHANNEL_COUNTED_BATCH, channel_id)
        return await self._delete_in_batches(sql.FORGET_GUILD_BATCH, guild_id)

    async def guilds_with_messages(self) -> set[int]:
        async def read(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.GUILDS_WITH_MESSAGES))

        return {int(row[0]) for row in await self._run(read, transaction=False)}

    # -- state ------------------------------------------------------------------------------

    @staticmethod
    def _kind(kind: StateKind) -> str:
        if kind not in STATE_KINDS:
            raise ValueError(f"not a state kind: {kind!r}")
        return kind

    def _seal_state(self, document: Document) -> Document:
        if self._cipher is None:
            return document
        return {"sealed": self._cipher.seal(json.dumps(document, ensure_ascii=False))}

    def _open_state(self, stored: Document) -> Document:
        if self._cipher is None:
            return stored
        opened: Document = json.loads(self._cipher.open(stored["sealed"]))
        return opened

    async def get_state(self, kind: StateKind, key: str) -> Document | None:
        name = self._kind(kind)

        async def read(connection: Connection) -> Document | None:
            stored: Document | None = await connection.fetchval(sql.GET_STATE, name, key)
            return stored

        stored = await self._run(read, transaction=False)
        return self._open_state(stored) if stored is not None else None

    async def put_state(self, kind: StateKind, key: str, document: Document) -> None:
        name, sealed = self._kind(kind), self._seal_state(document)

        async def write(connection: Connection) -> None:
            await connection.execute(
                sql.PUT_STATE,
                name,
                key,
                sealed,
            )

        await self._run(write, transaction=False)

    async def update_state(
        self, kind: StateKind, key: str, change: Callable[[Document | None], Document | None]
    ) -> Document | None:
        name = self._kind(kind)

        async def read_modify_write(connection: Connection) -> Document | None:
            # Lock the row, or create it (JSON null: no document yet) and so hold its lock;
            # either way no other writer of the key gets in before the commit, and no reader
            # sees the placeholder.
            stored: Document | None = await connection.fetchval(
                "INSERT INTO state (kind, key, document) VALUES ($1, $2, 'null'::jsonb) "
                "ON CONFLICT (kind, key) DO UPDATE SET document = state.document "
                "RETURNING document",
                name,
                key,
            )
            changed = change(self._open_state(stored) if stored is not None else None)
            if changed is None:
                await connection.execute(
                    "DELETE FROM state WHERE kind = $1 AND key = $2", name, key
                )
            else:
                await connection.execute(
                    "UPDATE state SET document = $3 WHERE kind = $1 AND key = $2",
                    name,
                    key,
                    self._seal_state(changed),
                )
            return copy.deepcopy(changed)

        return await self._run(read_modify_write, idempotent=False)

    async def delete_state(self, kind: StateKind, key: str) -> bool:
        name = self._kind(kind)

        async def remove(connection: Connection) -> bool:
            found = await connection.fetchval(sql.DELETE_STATE, name, key)
            return found is not None

        return await self._run(remove, transaction=False)

    async def state_items(self, kind: StateKind) -> list[tuple[str, Document]]:
        name = self._kind(kind)

        async def read(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.STATE_ITEMS, name))

        rows = await self._run(read, transaction=False)
        return [(row["key"], self._open_state(row["document"])) for row in rows]

    # -- usage ------------------------------------------------------------------------------

    async def add_usage(self, usage: UsageRow) -> None:
        async def add(connection: Connection) -> None:
            await connection.execute(
                sql.ADD_USAGE,
                usage.day,
                usage.guild_id,
                usage.channel_id,
                usage.member_id,
                usage.kind,
                usage.prompt,
                usage.completion,
                usage.cached,
                usage.calls,
            )

        # Additive: in a transaction, so a connection lost before the commit is retried, and one
        # lost during the commit (it may have been saved) raises rather than add twice.
        await self._run(add, idempotent=False)

    async def usage_for(self, guild_id: int, since: date) -> list[UsageRow]:
        async def read(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.USAGE_FOR, guild_id, since))

        return [_usage_row(row) for row in await self._run(read, transaction=False)]

    async def delete_usage_before(self, day: date) -> int:
        return await self._delete_in_batches(sql.EXPIRE_USAGE_BATCH, day)

    async def forget_member_usage(self, guild_id: int, member_id: int) -> int:
        async def remove(connection: Connection) -> int:
            status = await connection.execute(sql.FORGET_MEMBER_USAGE, guild_id, member_id)
            return _row_count(status)

        return await self._run(remove, transaction=False)

    async def usage_of_member(self, member_id: int) -> list[UsageRow]:
        async def read(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.USAGE_OF_MEMBER, member_id))

        return [_usage_row(row) for row in await self._run(read, transaction=False)]

    async def forget_member_usage_everywhere(self, member_id: int) -> int:
        async def remove(connection: Connection) -> int:
            return _row_count(
                await connection.execute(sql.FORGET_MEMBER_USAGE_EVERYWHERE, member_id)
            )

        return await self._run(remove, transaction=False)

    async def forget_guild_usage(self, guild_id: int) -> int:
        async def remove(connection: Connection) -> int:
            return _row_count(await connection.execute(sql.FORGET_GUILD_USAGE, guild_id))

        return await self._run(remove, transaction=False)

    async def guilds_with_usage(self) -> set[int]:
        async def read(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.GUILDS_WITH_USAGE))

        return {int(row[0]) for row in await self._run(read, transaction=False)}

    # -- leases -----------------------------------------------------------------------------

    async def try_acquire(self, name: str, owner: str, ttl_seconds: float) -> bool:
        # Safe to run again after a lost connection: a second try by the same owner renews.
        return await self._run(
            lambda connection: take_lease(connection, name, owner, ttl_seconds),
            transaction=False,
        )

    async def release(self, name: str, owner: str) -> None:
        await self._run(
            lambda connection: release_lease(connection, name, owner), transaction=False
        )

    async def lease_holder(self, name: str) -> LeaseHolder | None:
        async def read(connection: Connection) -> Any:
            return await connection.fetchrow(
                "SELECT owner, extract(epoch FROM expires_at - now())::float8 AS seconds_left "
                "FROM leases WHERE name = $1 AND expires_at > now()",
                name,
            )

        row = await self._run(read, transaction=False)
        if row is None:
            return None
        return LeaseHolder(owner=row["owner"], seconds_left=float(row["seconds_left"]))

    # -- bulk import (python -m app migrate-store) ----------------------------------------------

    async def import_messages(
        self,
        messages: Sequence[StoredMessage],
        *,
        progress: str | None = None,
        sealed: bool = False,
    ) -> int:
        """Insert a batch of messages in one transaction, those already stored left as they
        are; returns how many were new. Counts are not touched (`import_counts` brings them).
        With `progress`, the batch's last message id is recorded in `store_meta` under that
        name in the same transaction, so an import cut short (kill -9) resumes after the last
        batch that committed (`import_progress`).

        The batch goes in with a binary COPY (about twice as fast as the alternative, and
        what a resumed import meets: rows nobody stored yet); if any of its messages is
        already there (or the engine takes no binary COPY), the COPY is rolled back to its
        savepoint and the batch goes in as `INSERT ... SELECT * FROM unnest(...) ON CONFLICT
        (message_id) DO NOTHING`.

        With `sealed` (and a cipher), the authors' names and texts come sealed already, with
        this store's key (`SqliteStore.export_messages(sealed=True)`), and are stored as they
        are; a batch whose first text this key cannot open raises `EncryptionKeyError`.
        """
        if not messages:
            return 0
        seal: Callable[[str], str] = self._seal
        if sealed and self._cipher is not None:
            try:
                self._cipher.open(messages[0].content)
            except Exception:
                raise EncryptionKeyError(
                    "The messages to import are not sealed with the database's key."
                ) from None
            seal = str  # as they came
        rows = [
            (
                m.message_id,
                m.guild_id,
                m.channel_id,
                m.author_id,
                seal(m.author_name),
                seal(m.content),
                m.created_at,
                m.edited_at,
                m.from_bot,
                # Always sealed here: an export hands them out opened, even a sealed one.
                self._seal_attachments(m.attachments),
            )
            for m in messages
        ]
        last = str(messages[-1].message_id)

        async def insert(connection: Connection) -> int:
            try:
                async with connection.transaction():  # a savepoint
                    await connection.copy_records_to_table(
                        "messages", records=rows, columns=_COPY_COLUMNS
                    )
                inserted = len(rows)
            except _COPY_REFUSED:
                inserted = _row_count(
                    await connection.execute(_IMPORT_MESSAGES, *map(list, zip(*rows, strict=True)))
                )
            if progress is not None:
                await connection.execute(sql.PUT_META, _IMPORT_PREFIX + progress, last)
            return inserted

        return await self._run(insert)

    async def import_progress(self, name: str) -> int | None:
        """The last message id an import named `name` committed, or None."""

        async def read(connection: Connection) -> int | None:
            value = await connection.fetchval(sql.GET_META, _IMPORT_PREFIX + name)
            return int(value) if value is not None else None

        return await self._run(read, transaction=False)

    async def end_import(self, name: str) -> None:
        """Forget where the import named `name` was: the next one starts from the start."""

        async def remove(connection: Connection) -> None:
            await connection.execute(
                "DELETE FROM store_meta WHERE name = $1", _IMPORT_PREFIX + name
            )

        await self._run(remove, transaction=False)

    async def import_counts(self, counts: Mapping[int, int]) -> None:
        """Raise channels' beat counts to at least `counts` (never lower one): importing the
        same counts twice, or into a database the bot already counts in, is safe."""
        channels, values = list(counts), list(counts.values())

        async def merge(connection: Connection) -> None:
            await connection.execute(
                "INSERT INTO channel_counters (channel_id, n) "
                "SELECT * FROM unnest($1::bigint[], $2::bigint[]) "
                "ON CONFLICT (channel_id) DO UPDATE "
                "SET n = GREATEST(channel_counters.n, EXCLUDED.n)",
                channels,
                values,
            )

        if channels:
            await self._run(merge)

    async def import_state(self, kind: StateKind, items: Sequence[tuple[str, Document]]) -> None:
        """Store the documents of one kind (replacing any with the same key), in one
        transaction."""
        name = self._kind(kind)
        keys = [key for key, _document in items]
        documents = [_encode_json(self._seal_state(document)) for _key, document in items]

        async def upsert(connection: Connection) -> None:
            await connection.execute(
                "INSERT INTO state (kind, key, document) "
                "SELECT $1, t.key, t.document::jsonb FROM unnest($2::text[], $3::text[]) "
                "AS t (key, document) "
                "ON CONFLICT (kind, key) DO UPDATE SET document = EXCLUDED.document",
                name,
                keys,
                documents,
            )

        if keys:
            await self._run(upsert)

    async def import_usage(self, rows: Sequence[UsageRow]) -> None:
        """Store token usage rows as they are (replacing a row of the same key, so a second
        copy does not add them twice), in one transaction."""
        columns = list(
            zip(
                *(
                    (
                        r.day,
                        r.guild_id,
                        r.channel_id,
                        r.member_id,
                        r.kind,
                        r.prompt,
                        r.completion,
                        r.cached,
                        r.calls,
                    )
                    for r in rows
                ),
                strict=True,
            )
        )

        async def upsert(connection: Connection) -> None:
            await connection.execute(
                f"INSERT INTO token_usage ({sql.USAGE_COLUMNS}) "
                "SELECT * FROM unnest($1::date[], $2::bigint[], $3::bigint[], $4::bigint[], "
                "$5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[]) "
                "ON CONFLICT (guild_id, day, channel_id, member_id, kind) DO UPDATE SET "
                "prompt_tokens = EXCLUDED.prompt_tokens, "
                "completion_tokens = EXCLUDED.completion_tokens, "
                "cached_tokens = EXCLUDED.cached_tokens, calls = EXCLUDED.calls",
                *(list(column) for column in columns),
            )

        if rows:
            await self._run(upsert)

    async def usage_count(self) -> int:
        async def read(connection: Connection) -> int:
            return int(await connection.fetchval(sql.USAGE_COUNT))

        return await self._run(read, transaction=False)

    async def message_count(self) -> int:
        async def read(connection: Connection) -> int:
            return int(await connection.fetchval(sql.MESSAGE_COUNT))

        return await self._run(read, transaction=False)

    async def channel_counts(self) -> dict[int, int]:
        """Every channel's beat count."""

        async def read(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.CHANNEL_COUNTS))

        return {
            int(row["channel_id"]): int(row["n"])
            for row in await self._run(read, transaction=False)
        }

    async def state_counts(self) -> dict[StateKind, int]:
        """How many documents of each kind are stored."""

        async def read(connection: Connection) -> list[Any]:
            return list(await connection.fetch(sql.STATE_COUNTS))

        found = {row["kind"]: int(row["n"]) for row in await self._run(read, transaction=False)}
        return {kind: found.get(kind, 0) for kind in STATE_KINDS}


def _usage_row(row: Any) -> UsageRow:
    return UsageRow(
        day=row["day"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        member_id=row["member_id"],
        kind=row["kind"],
        prompt=row["prompt_tokens"],
        completion=row["completion_tokens"],
        cached=row["cached_tokens"],
        calls=row["calls"],
    )
