"""Benchmark of the embedded store (`SqliteStore`, "ours") beside raw SQLite (the reference
column: one connection, one commit per message), TinyDB's default storage, and the PostgreSQL
store (on a PostgreSQL 18 the run starts with fsync on, as the tests start theirs, or the server
`BENCH_DATABASE_URL` names: a superuser's URL, a database per measurement).

Each (store, size) is built in one child process and measured in a fresh one, so peak
memory figures do not mix; every store is called the way the bot calls it: awaited, with
the blocking work in a worker thread. Datasets are generated, bulk loaded for setup, and
then ingest is measured through the real `add`, with the channel's beat count: ours and
PostgreSQL count it in the transaction that stores the message, raw SQLite bumps a counter
row in the same transaction (TinyDB stores the message only). Ours is also copied into
PostgreSQL with the real `python -m app migrate-store`, timed from the command's start to its
exit. The churn, the deleted-text probe, the reply figure and the crash test run on ours; the
first three are written against the store's ports (`bench/store_workload.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from tinydb import TinyDB
from tinydb.table import Document

from bench.store_workload import (
    CHANNELS,
    GUILD,
    START,
    Dataset,
    churn,
    deleted_text,
    disk_figures,
    percentile,
    reply_figures,
)
from services.store import SqliteStore, StoredMessage
from services.store.postgres import PostgresStore
from services.store.sqlite import DATABASE_FILE
from tests.postgres_server import PostgresServer

INGEST = 3_000  # messages added through the real `add`, sequentially
CONCURRENT_TASKS = 8
CONCURRENT_EACH = 250
QUERIES = 1_000
TINYDB_TIME_BOX = 10.0  # seconds per measured operation kind for TinyDB's default storage
TINYDB_MAX_SIZE = 100_000  # beyond this one insert takes seconds (~8.7 s at 1M)
CRASH_KILLS = 24
RETENTION_DAYS = 30  # the retention figure: the oldest day of a store that holds this many
POSTGRES_URL = "BENCH_POSTGRES_URL"  # how a child is told the database to measure


def _document(message: StoredMessage) -> dict[str, Any]:
    return {
        "guild": message.guild_id,
        "channel": message.channel_id,
        "author": message.author_id,
        "author_name": message.author_name,
        "content": message.content,
        "created_at": message.created_at.timestamp(),
        "from_bot": message.from_bot,
        "edited_at": None,
    }


# -- the stores, behind one small async surface -------------------------------------------


class BenchStore:
    async def add(self, message: StoredMessage) -> None:
        raise NotImplementedError

    async def last_of_author(self, author_id: int, limit: int) -> int:
        raise NotImplementedError

    async def last_of_channel(self, channel_id: int, limit: int) -> int:
        raise NotImplementedError

    async def forget(self, author_id: int) -> int:
        raise NotImplementedError

    async def expire(self, cutoff: datetime) -> int:
        raise NotImplementedError

    async def settle(self) -> None:
        """Wait for background work the last call started (ours: the purge)."""

    async def close(self) -> None:
        raise NotImplementedError


class OurStore(BenchStore):
    """The bot's `SqliteStore`."""

    def __init__(self, path: Path) -> None:
        self.store = SqliteStore(path)

    async def add(self, message: StoredMessage) -> None:
        await self.store.add(message, counted=True)  # counted in the message's transaction

    async def last_of_author(self, author_id: int, limit: int) -> int:
        return len(await self.store.last_by_author(GUILD, author_id, limit))

    async def last_of_channel(self, channel_id: int, limit: int) -> int:
        return len(await self.store.last_in_channel(channel_id, limit))

    async def forget(self, author_id: int) -> int:
        return await self.store.forget_author(GUILD, author_id)

    async def expire(self, cutoff: datetime) -> int:
        return await self.store.delete_older_than(cutoff)

    async def settle(self) -> None:
        await settle_ours(self.store)

    async def close(self) -> None:
        await self.store.close()

    @staticmethod
    def build(path: Path, dataset: Dataset, size: int) -> None:
        """The schema from the store itself, then every row in one transaction with its
        conventions (times in integer microseconds since the epoch), counts included: as if
        each message had been added, counted, by the bot."""

        async def create_schema() -> None:
            store = SqliteStore(path)
            await store.open()
            await store.close()

        asyncio.run(create_schema())
        db = sqlite3.connect(path / DATABASE_FILE, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            counts: dict[int, int] = {}
            messages = dataset.messages(0, size)
            while chunk := [m for _, m in zip(range(10_000), messages, strict=False)]:
                for m in chunk:
                    counts[m.channel_id] = counts.get(m.channel_id, 0) + 1
                db.executemany(
                    "INSERT INTO messages (message_id, guild_id, channel_id, author_id, "
                    "author_name, content, created_at, edited_at, from_bot) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0)",
                    (
                        (
                            m.message_id,
                            m.guild_id,
                            m.channel_id,
                            m.author_id,
                            m.author_name,
                            m.content,
                            _micros(m.created_at),
                        )
                        for m in chunk
                    ),
                )
                db.executemany(
                    "INSERT INTO counted_messages (message_id, channel_id, counted_at) "
                    "VALUES (?, ?, ?)",
                    ((m.message_id, m.channel_id, _micros(m.created_at)) for m in chunk),
                )
            db.executemany(
                "INSERT INTO channel_counters (channel_id, n) VALUES (?, ?)", counts.items()
            )
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()


async def settle_ours(store: SqliteStore) -> None:
    """Wait for the checkpoint that follows a removal: a removal's caller is answered at its
    commit, before the writer checkpoints the WAL, and a write queued after it (a release of
    a lease nobody holds, which changes nothing) is answered only once that is done."""
    await store.release("bench-settle", "bench")


def _micros(moment: datetime) -> int:
    """`SqliteStore`'s time column: integer microseconds since the epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RawSQLite(BenchStore):
    """The reference: SQLite as anyone would use it, one connection and one commit (its
    counter row in the same transaction) per message, WAL, synchronous=FULL."""

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS messages (
            id INTEGER PRIMARY KEY, guild INTEGER, channel INTEGER, author INTEGER,
            author_name TEXT, content TEXT, created_at REAL, from_bot INTEGER, edited_at REAL);
        CREATE INDEX IF NOT EXISTS by_channel ON messages (channel, id);
        CREATE INDEX IF NOT EXISTS by_author ON messages (guild, author, id);
        CREATE TABLE IF NOT EXISTS counts (channel INTEGER PRIMARY KEY, n INTEGER);
    """

    def __init__(self, path: Path) -> None:
        self._db = _sqlite_open(path)
        self._lock = asyncio.Lock()

    async def _run(self, sql: str, args: tuple[Any, ...], *, commit: bool = False) -> int:
        def work() -> int:
            cursor = self._db.execute(sql, args)
            if commit:
                self._db.commit()
                return cursor.rowcount
            return len(cursor.fetchall())

        async with self._lock:
            return await asyncio.to_thread(work)

    async def add(self, message: StoredMessage) -> None:
        row = (message.message_id, *_document(message).values())

        def work() -> None:  # the message and its channel's count in one transaction
            self._db.execute(
                "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )
            self._db.execute(
                "INSERT INTO counts VALUES (?, 1) ON CONFLICT (channel) DO UPDATE SET n = n + 1",
                (message.channel_id,),
            )
            self._db.commit()

        async with self._lock:
            await asyncio.to_thread(work)

    async def last_of_author(self, author_id: int, limit: int) -> int:
        return await self._run(
            "SELECT * FROM messages WHERE guild = ? AND author = ? ORDER BY id DESC LIMIT ?",
            (GUILD, author_id, limit),
        )

    async def last_of_channel(self, channel_id: int, limit: int) -> int:
        return await self._run(
            "SELECT * FROM messages WHERE channel = ? ORDER BY id DESC LIMIT ?",
            (channel_id, limit),
        )

    async def forget(self, author_id: int) -> int:
        return await self._run(
            "DELETE FROM messages WHERE guild = ? AND author = ?", (GUILD, author_id), commit=True
        )

    async def expire(self, cutoff: datetime) -> int:
        return await self._run(
            "DELETE FROM messages WHERE created_at < ?", (cutoff.timestamp(),), commit=True
        )

    async def close(self) -> None:
        self._db.close()

    @staticmethod
    def build(path: Path, dataset: Dataset, size: int) -> None:
        db = _sqlite_open(path)
        rows = ((m.message_id, *_document(m).values()) for m in dataset.messages(0, size))
        db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()


def _sqlite_open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path / "messages.sqlite3", check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(RawSQLite.SCHEMA)
    return db


class TinyDBDefault(BenchStore):
    """TinyDB 4 as documented: JSONStorage, which rewrites the file and does not fsync."""

    def __init__(self, path: Path) -> None:
        self._db = TinyDB(path / "messages.json")
        self._table = self._db.table("messages", cache_size=0)
        self._lock = asyncio.Lock()

    async def _run(self, work: Callable[[], int]) -> int:
        async with self._lock:
            return await asyncio.to_thread(work)

    async def add(self, message: StoredMessage) -> None:
        document = Document(_document(message), doc_id=message.message_id)
        await self._run(lambda: len(self._table.upsert(document)))

    def _last(self, keep: Callable[[dict[str, Any]], bool], limit: int) -> int:
        found = sorted(doc.doc_id for doc in self._table.all() if keep(doc))
        return len(found[-limit:])

    async def last_of_author(self, author_id: int, limit: int) -> int:
        return await self._run(lambda: self._last(lambda d: d["author"] == author_id, limit))

    async def last_of_channel(self, channel_id: int, limit: int) -> int:
        return await self._run(lambda: self._last(lambda d: d["channel"] == channel_id, limit))

    async def forget(self, author_id: int) -> int:
        def work() -> int:
            ids = [d.doc_id for d in self._table.all() if d["author"] == author_id]
            self._table.remove(doc_ids=ids)
            return len(ids)

        return await self._run(work)

    async def expire(self, cutoff: datetime) -> int:
        def work() -> int:
            ids = [d.doc_id for d in self._table.all() if d["created_at"] < cutoff.timestamp()]
            self._table.remove(doc_ids=ids)
            return len(ids)

        return await self._run(work)

    async def close(self) -> None:
        self._db.close()

    @staticmethod
    def build(path: Path, dataset: Dataset, size: int) -> None:
        table = {str(m.message_id): _document(m) for m in dataset.messages(0, size)}
        with (path / "messages.json").open("w", encoding="utf-8") as handle:
            json.dump({"messages": table}, handle)


class PostgresBench(BenchStore):
    """The bot's `PostgresStore` on the database the parent made for this measurement."""

    def __init__(self, path: Path) -> None:
        self._url = os.environ[POSTGRES_URL]
        self._store: PostgresStore | None = None

    async def _opened(self) -> PostgresStore:
        if self._store is None:
            self._store = await PostgresStore.open(self._url)
        return self._store

    async def add(self, message: StoredMessage) -> None:
        await (await self._opened()).add(message, counted=True)

    async def last_of_author(self, author_id: int, limit: int) -> int:
        return len(await (await self._opened()).last_by_author(GUILD, author_id, limit))

    async def last_of_channel(self, channel_id: int, limit: int) -> int:
        return len(await (await self._opened()).last_in_channel(channel_id, limit))

    async def forget(self, author_id: int) -> int:
        return await (await self._opened()).forget_author(GUILD, author_id)

    async def expire(self, cutoff: datetime) -> int:
        return await (await self._opened()).delete_older_than(cutoff)

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

    @staticmethod
    def build(path: Path, dataset: Dataset, size: int) -> None:
        asyncio.run(PostgresBench._build(dataset, size))

    @staticmethod
    async def _build(dataset: Dataset, size: int) -> None:
        """Bulk loaded through the migrate-store import, with the counts the adds made."""
        store = await PostgresStore.open(os.environ[POSTGRES_URL])
        counts: dict[int, int] = {}
        batch: list[StoredMessage] = []
        for message in dataset.messages(0, size):
            counts[message.channel_id] = counts.get(message.channel_id, 0) + 1
            batch.append(message)
            if len(batch) == 5_000:
                await store.import_messages(batch)
                batch = []
        await store.import_messages(batch)
        await store.import_counts(counts)
        await store.close()


STORES: dict[str, type[BenchStore]] = {
    "ours": OurStore,
    "tinydb": TinyDBDefault,
    "sqlite": RawSQLite,
    "postgres": PostgresBench,
}


# -- measuring, inside a child process ----------------------------------------------------


async def _timed_calls(
    calls: Iterator[Callable[[], Awaitable[object]]], count: int, time_box: float | None
) -> list[float]:
    samples: list[float] = []
    began = time.perf_counter()
    for call in calls:
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
        if len(samples) >= count or (time_box and time.perf_counter() - began > time_box):
            break
    return samples


async def measure(kind: str, path: Path, size: int) -> dict[str, Any]:
    dataset = Dataset()
    time_box = TINYDB_TIME_BOX if kind == "tinydb" else None
    rng = random.Random(5)
    sample = list(dataset.messages(rng.randrange(size), 2_000))
    results: dict[str, Any] = {"baseline_rss_mb": _peak_rss_mb()}  # imports and dataset

    started = time.perf_counter()
    store = STORES[kind](path)  # type: ignore[call-arg]
    await store.last_of_channel(sample[0].channel_id, 5)
    results["cold_start"] = time.perf_counter() - started

    fresh = dataset.messages(size, INGEST + CONCURRENT_TASKS * CONCURRENT_EACH)
    adds = (lambda m=m: store.add(m) for m in fresh)
    ingest_began = time.perf_counter()
    samples = await _timed_calls(adds, INGEST, time_box)
    elapsed = time.perf_counter() - ingest_began
    results["ingest_p50"] = percentile(samples, 0.5)
    results["ingest_p99"] = percentile(samples, 0.99)
    results["ingest_rate"] = len(samples) / elapsed
    results["ingest_count"] = len(samples)

    if kind != "tinydb":
        concurrent: list[float] = []

        async def writer() -> None:
            for message in [next(fresh) for _ in range(CONCURRENT_EACH)]:
                start = time.perf_counter()
                await store.add(message)
                concurrent.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(CONCURRENT_TASKS)))
        results["concurrent_rate"] = len(concurrent) / (time.perf_counter() - began)
        results["concurrent_p50"] = percentile(concurrent, 0.5)
        results["concurrent_p99"] = percentile(concurrent, 0.99)

    authors = (lambda m=m: store.last_of_author(m.author_id, 30) for m in sample)
    results["author_p99"] = percentile(await _timed_calls(authors, QUERIES, time_box), 0.99)
    channels = (lambda m=m: store.last_of_channel(m.channel_id, 5) for m in sample)
    results["channel_p99"] = percentile(await _timed_calls(channels, QUERIES, time_box), 0.99)

    # The most active member: the worst case for forgetting.
    started = time.perf_counter()
    results["forgotten"] = await store.forget(10_000)
    results["forget"] = time.perf_counter() - started
    await store.settle()
    results["forget_purged"] = time.perf_counter() - started

    # The daily retention job of a store that holds RETENTION_DAYS days: its oldest day.
    cutoff = START + timedelta(seconds=size / RETENTION_DAYS)
    started = time.perf_counter()
    results["expired"] = await store.expire(cutoff)
    results["retention"] = time.perf_counter() - started
    await store.settle()
    results["retention_purged"] = time.perf_counter() - started
    await store.close()
    results["peak_rss_mb"] = _peak_rss_mb()
    results["store_rss_mb"] = results["peak_rss_mb"] - results["baseline_rss_mb"]
    results["file_mb"] = (
        await _database_bytes(os.environ[POSTGRES_URL])
        if kind == "postgres"
        else _size_on_disk(path)
    ) / 2**20
    return results


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _database_bytes(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await connection.close()


async def churn_and_probe(path: Path, size: int, changes: int) -> dict[str, Any]:
    """On ours, built with `size` messages: the churn (with `changes` < 0, its adds alone: the
    control), then the deleted-text probe, then the descriptors and files after closing and
    reopening (open + one query)."""
    store = OurStore(path)
    results = await churn(
        store.store,
        path,
        Dataset(),
        size,
        abs(changes),
        apply_changes=changes >= 0,
        settle=store.settle,
    )
    if changes >= 0:
        results["probe"] = await deleted_text(store.store, path, settle=store.settle)
    await store.close()
    reopened = OurStore(path)
    await reopened.last_of_channel(1_000, 5)
    results["reopened"] = disk_figures(path)
    await reopened.close()
    results["peak_rss_mb"] = _peak_rss_mb()
    return results


async def reply(path: Path) -> dict[str, Any]:
    """One bot reply's `ReplyLog.add`, on an otherwise empty store of ours."""
    store = SqliteStore(path)
    try:
        return await reply_figures(store)
    finally:
        await store.close()


def _size_on_disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def child_main(argv: list[str]) -> None:
    action, kind, path, size = argv[0], argv[1], Path(argv[2]), int(argv[3])
    if action == "build":
        STORES[kind].build(path, Dataset(), size)  # type: ignore[attr-defined]
        print(json.dumps({}))
    elif action == "churn":  # the number of changes goes where the kind goes
        print(json.dumps(asyncio.run(churn_and_probe(path, size, int(kind)))))
    elif action == "reply":
        print(json.dumps(asyncio.run(reply(path))))
    else:
        print(json.dumps(asyncio.run(measure(kind, path, size))))


def _in_child(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench child {args} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def _database(postgres: PostgresServer | None) -> Iterator[str | None]:
    """A new database on the bench's server (its URL), dropped after; None without one."""
    if postgres is None:
        yield None
        return
    name = asyncio.run(postgres.create_database())
    try:
        yield postgres.url_for(name)
    finally:
        asyncio.run(postgres.drop_database(name))


def run_one(
    kind: str, size: int, work_dir: Path, postgres: PostgresServer | None = None
) -> dict[str, Any]:
    """Build the store in one child, measure it in another. With a server: PostgreSQL is
    measured on a database of its own, and ours is copied into one with migrate-store."""
    path = work_dir / f"{kind}-{size}"
    path.mkdir()
    with _database(postgres if kind in {"postgres", "ours"} else None) as url:
        env = {**os.environ, POSTGRES_URL: url} if url is not None else None
        began = time.perf_counter()
        _in_child("build", kind, str(path), str(size), env=env)
        build_seconds = time.perf_counter() - began
        migrated = _migrate_store(path, url, work_dir) if kind == "ours" and url else {}
        results = _in_child("measure", kind, str(path), str(size), env=env)
    results.update(build_seconds=build_seconds, **migrated)
    shutil.rmtree(path)
    return results


def _migrate_store(data_dir: Path, url: str, work_dir: Path) -> dict[str, Any]:
    """`python -m app migrate-store` of the store just built into the empty database `url`,
    timed from the start of the process to its exit."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PROJECT_ROOT),
        "DISCORD_TOKEN": "bench-token-0123456789",
        "CHANNEL_ID": "1",
        "AZURE_OPENAI_API_KEY": "bench-key-0123456789",
        "AZURE_OPENAI_ENDPOINT": "https://bench.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "bench",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": url,
    }
    began = time.perf_counter()
    done = subprocess.run(  # in the scratch folder: no .env is read
        [sys.executable, "-m", "app", "migrate-store"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=work_dir,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"migrate-store failed:\n{done.stdout}{done.stderr}")
    copied = next(line for line in done.stdout.splitlines() if line.startswith("messages "))
    rows = int(copied.split()[1].replace(",", ""))
    return {"migrate_seconds": seconds, "migrate_rate": rows / seconds, "migrated": rows}


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_churn(size: int, changes: int, work_dir: Path) -> dict[str, Any]:
    """The churn of ours at `size` messages, in a child of its own after a child built it;
    and its control: the same adds without the changes, on a copy of the same build."""
    path, control = work_dir / f"churn-{size}", work_dir / f"churn-control-{size}"
    path.mkdir()
    _in_child("build", "ours", str(path), str(size))
    shutil.copytree(path, control)
    results = _in_child("churn", str(changes), str(path), str(size))
    shutil.rmtree(path)
    results["control"] = _in_child("churn", str(-changes), str(control), str(size))
    shutil.rmtree(control)
    return results


def run_reply(work_dir: Path) -> dict[str, Any]:
    path = work_dir / "reply"
    path.mkdir()
    results = _in_child("reply", "ours", str(path), "0")
    shutil.rmtree(path)
    return results


# -- the crash test -------------------------------------------------------------------------

CRASH_WRITER = """
import asyncio, sys
from pathlib import Path
from bench.store_bench import Dataset
from services.store import SqliteStore

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]))
    for n, message in enumerate(Dataset().messages(int(sys.argv[2]), 10_000_000)):
        print("adding", message.message_id, message.channel_id, flush=True)
        arrival = await store.add(message, counted=True)
        print("added", message.message_id, arrival.count, flush=True)
        if n % 3 == 2:
            victim = message.message_id - 4096
            print("deleting", victim, flush=True)
            await store.delete(victim)
            print("deleted", victim, flush=True)

asyncio.run(main())
"""


async def _stored(path: Path) -> tuple[set[int], dict[int, int]]:
    """The ids a reopened store holds, and every channel's count."""
    store = SqliteStore(path)
    try:
        await store.open()
        ids: set[int] = set()
        counts: dict[int, int] = {}
        for channel in range(1_000, 1_000 + CHANNELS):
            ids.update(m.message_id for m in await store.last_in_channel(channel, 10**9))
            counts[channel] = await store.channel_count(channel)
        return ids, counts
    finally:
        await store.close()


def crash_test(work_dir: Path, kills: int) -> dict[str, int]:
    """Kill a writer at random moments; count acknowledged messages lost, bad opens, and
    counts lost, doubled or out of sequence."""
    path = work_dir / "crash"
    path.mkdir()
    rng = random.Random(11)
    expected: set[int] = set()  # acknowledged adds, minus acknowledged deletes
    deleted: set[int] = set()
    counts: dict[int, int] = {}  # channel -> its count: acknowledged, or found after a kill
    lost = unreadable = resurrected = acknowledged = 0
    counts_lost = counts_doubled = counts_out_of_sequence = 0
    for run in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", CRASH_WRITER, str(path), str(run * 1_000_000)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        in_flight: set[int] = set()  # a delete under way when the kill came may have happened
        adding: int | None = None  # the channel of an add under way: it may have been counted
        channel_of: dict[int, int] = {}
        # The clock starts at the writer's first line, once its imports are done.
        lines: list[str] = [child.stdout.readline()]
        deadline = time.monotonic() + rng.uniform(0.05, 1.5)
        while time.monotonic() < deadline and (line := child.stdout.readline()):
            lines.append(line)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        lines += child.stdout.readlines()  # what it printed before the kill landed
        child.stdout.close()
        for line in lines:
            if not line.endswith("\n"):
                break
            event, value, *rest = line.split()
            message_id = int(value)
            if event == "adding":
                adding = channel_of[message_id] = int(rest[0])
            elif event == "added":
                expected.add(message_id)
                acknowledged += 1
                channel = channel_of.pop(message_id)
                count = int(rest[0])
                counts_out_of_sequence += count != counts.get(channel, 0) + 1
                counts[channel] = count
                adding = None
            elif event == "deleting":
                in_flight.add(message_id)
            else:
                in_flight.discard(message_id)
                expected.discard(message_id)
                deleted.add(message_id)
        try:
            stored, stored_counts = asyncio.run(_stored(path))
        except Exception:  # counted; the next run opens the same directory again
            unreadable += 1
            continue
        lost += len(expected - stored - in_flight)
        resurrected += len(stored & deleted)
        expected -= in_flight - stored
        for channel, count in stored_counts.items():
            acknowledged_count = counts.get(channel, 0)
            counts_lost += count < acknowledged_count
            counts_doubled += count > acknowledged_count + (channel == adding)
            counts[channel] = count
    shutil.rmtree(path)
    return {
        "kills": kills,
        "acknowledged": acknowledged,
        "lost": lost,
        "unreadable": unreadable,
        "resurrected": resurrected,
        "counts_lost": counts_lost,
        "counts_doubled": counts_doubled,
        "counts_out_of_sequence": counts_out_of_sequence,
    }
