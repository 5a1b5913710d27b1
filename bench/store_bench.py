"""Benchmark of the message store against TinyDB's default storage, SQLite (WAL) and the
PostgreSQL store (on a PostgreSQL 18 the run starts with fsync on, as the tests start theirs,
or the server `BENCH_DATABASE_URL` names: a superuser's URL, a database per measurement).

Each (store, size) is built in one child process and measured in a fresh one, so peak
memory figures do not mix; every store is called the way the bot calls it: awaited, with
the blocking work in a worker thread. Datasets are generated, bulk loaded for setup, and
then ingest is measured through the real `add`, with the channel's beat count: ours
writes it in the message's own record, SQLite bumps a counter row in the same transaction
(TinyDB stores the message only), PostgreSQL in the same statement as the message. For
ours, the fsyncs each message cost are counted too. Ours is also copied into PostgreSQL with
the real `python -m app migrate-store`, timed from the command's start to its exit.
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

from services.store import LogLimits, LogStore, StoredMessage
from services.store.message_log import MessageLog
from services.store.postgres import PostgresStore
from tests.postgres_server import PostgresServer

GUILD = 7
CHANNELS = 400
MEMBERS = 20_000
START = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_ID = 1_300_000_000_000_000_000  # Discord-like snowflakes: they grow with time
INGEST = 3_000  # messages added through the real `add`, sequentially
CONCURRENT_TASKS = 8
CONCURRENT_EACH = 250
QUERIES = 1_000
TINYDB_TIME_BOX = 10.0  # seconds per measured operation kind for TinyDB's default storage
TINYDB_MAX_SIZE = 100_000  # beyond this one insert takes seconds (~8.7 s at 1M)
CRASH_KILLS = 24
CHURN_SIZE = 100_000  # live messages while retention expires and new ones arrive
CHURN_DAYS = 30  # each day re-ingests a tenth of the live set and expires as many: 3× in all
RETENTION_DAYS = 30  # the retention figure: the oldest day of a store that holds this many
POSTGRES_URL = "BENCH_POSTGRES_URL"  # how a child is told the database to measure

_WORDS_TEXT = """
    the a and to of in it is that you for on was with he this as have be at but not they are
    so just like what all about if can do get one out up me no my will some there your when
    music bot song play good time lol yes really think know would people more now going
    server voice channel tonight anyone game stream watch nice thanks
"""


def _text_pool(seed: int) -> str:
    rng = random.Random(seed)
    words = _WORDS_TEXT.split()
    return " ".join(rng.choice(words) for _ in range(400_000))


class Dataset:
    """Deterministic messages: skewed channels and members, ~80 characters, some long."""

    def __init__(self, seed: int = 1) -> None:
        self._pool = _text_pool(seed)
        self._seed = seed

    def messages(self, start: int, count: int) -> Iterator[StoredMessage]:
        rng = random.Random(self._seed * 1_000_003 + start)
        pool, pool_end = self._pool, len(self._pool) - 4_000
        for n in range(start, start + count):
            length = 1_500 if rng.random() < 0.01 else int(rng.expovariate(1 / 66)) + 1
            at = rng.randrange(pool_end)
            author = int(MEMBERS * rng.random() ** 3)
            yield StoredMessage(
                message_id=FIRST_ID + n * 4096,
                guild_id=GUILD,
                channel_id=1_000 + int(CHANNELS * rng.random() ** 2),
                author_id=10_000 + author,
                author_name=f"member {author}",
                content=pool[at : at + length],
                created_at=START + timedelta(seconds=n),
            )


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
    def __init__(self, path: Path) -> None:
        self._store = LogStore(path)

    async def add(self, message: StoredMessage) -> None:
        await self._store.add(message, counted=True)  # the count rides in the record

    async def last_of_author(self, author_id: int, limit: int) -> int:
        return len(await self._store.last_by_author(GUILD, author_id, limit))

    async def last_of_channel(self, channel_id: int, limit: int) -> int:
        return len(await self._store.last_in_channel(channel_id, limit))

    async def forget(self, author_id: int) -> int:
        return await self._store.forget_author(GUILD, author_id)

    async def expire(self, cutoff: datetime) -> int:
        return await self._store.delete_older_than(cutoff)

    async def settle(self) -> None:
        maintenance = self._store._maintenance
        if maintenance is not None:
            await maintenance

    async def close(self) -> None:
        await self._store.close()

    @staticmethod
    def build(path: Path, dataset: Dataset, size: int) -> None:
        message_log = MessageLog(path, LogLimits(), import_document=dict)
        counts: dict[int, int] = {}
        for message in dataset.messages(0, size):
            count = counts[message.channel_id] = counts.get(message.channel_id, 0) + 1
            record = {"put": message.message_id, "doc": _document(message), "beat": count}
            message_log.append(record, durable=False)  # setup only: one fsync at the end
        message_log.sync()
        snapshot = message_log.prepare_snapshot()
        message_log.write_snapshot(snapshot)
        message_log.commit_snapshot(snapshot)
        message_log.close()


class SQLiteStore(BenchStore):
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
    db.executescript(SQLiteStore.SCHEMA)
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
    "sqlite": SQLiteStore,
    "postgres": PostgresBench,
}


# -- measuring, inside a child process ----------------------------------------------------


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


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


class SyncCounter:
    """Counts the fdatasync and fsync calls made through `os` (ours; SQLite's are in C)."""

    def __init__(self) -> None:
        self.calls = 0
        self._fdatasync, self._fsync = os.fdatasync, os.fsync

    def __enter__(self) -> SyncCounter:
        def fdatasync(fd: Any) -> None:
            self.calls += 1
            self._fdatasync(fd)

        def fsync(fd: Any) -> None:
            self.calls += 1
            self._fsync(fd)

        os.fdatasync, os.fsync = fdatasync, fsync
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.fdatasync, os.fsync = self._fdatasync, self._fsync


async def measure(kind: str, path: Path, size: int) -> dict[str, Any]:
    dataset = Dataset()
    time_box = TINYDB_TIME_BOX if kind == "tinydb" else None
    rng = random.Random(5)
    sample = list(dataset.messages(rng.randrange(size), 2_000))
    results: dict[str, Any] = {}

    started = time.perf_counter()
    store = STORES[kind](path)  # type: ignore[call-arg]
    await store.last_of_channel(sample[0].channel_id, 5)
    results["cold_start"] = time.perf_counter() - started

    fresh = dataset.messages(size, INGEST + CONCURRENT_TASKS * CONCURRENT_EACH)
    adds = (lambda m=m: store.add(m) for m in fresh)
    ingest_began = time.perf_counter()
    with SyncCounter() as syncs:
        samples = await _timed_calls(adds, INGEST, time_box)
    elapsed = time.perf_counter() - ingest_began
    if kind == "ours":
        results["ingest_syncs"] = syncs.calls / len(samples)
    results["ingest_p50"] = _percentile(samples, 0.5)
    results["ingest_p99"] = _percentile(samples, 0.99)
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
        with SyncCounter() as syncs:
            await asyncio.gather(*(writer() for _ in range(CONCURRENT_TASKS)))
        results["concurrent_rate"] = len(concurrent) / (time.perf_counter() - began)
        results["concurrent_p50"] = _percentile(concurrent, 0.5)
        results["concurrent_p99"] = _percentile(concurrent, 0.99)
        if kind == "ours":
            results["concurrent_syncs"] = syncs.calls / len(concurrent)

    authors = (lambda m=m: store.last_of_author(m.author_id, 30) for m in sample)
    results["author_p99"] = _percentile(await _timed_calls(authors, QUERIES, time_box), 0.99)
    channels = (lambda m=m: store.last_of_channel(m.channel_id, 5) for m in sample)
    results["channel_p99"] = _percentile(await _timed_calls(channels, QUERIES, time_box), 0.99)

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
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["file_mb"] = (
        await _database_bytes(os.environ[POSTGRES_URL])
        if kind == "postgres"
        else _size_on_disk(path)
    ) / 2**20
    return results


async def _database_bytes(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await connection.close()


async def churn(path: Path, size: int, days: int) -> dict[str, Any]:
    """Days of retention at a steady live set: ingest a day, expire a day, let maintenance run."""
    results: dict[str, Any] = {"before": _index_figures(path)}
    dataset = Dataset()
    daily = size // 10
    store = OurStore(path)
    began = time.perf_counter()
    for day in range(days):
        # Awaited together: group commit shares the fsyncs, as a busy gateway would.
        await asyncio.gather(*map(store.add, dataset.messages(size + day * daily, daily)))
        await store.expire(START + timedelta(seconds=(day + 1) * daily))
        await store.settle()
    await store.close()
    results["seconds"] = time.perf_counter() - began
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["after"] = _index_figures(path)
    return results


def _index_figures(path: Path) -> dict[str, Any]:
    """Slots and live messages of the committed index snapshot, and its size on disk (the
    size of the index columns in memory, plus a small header)."""
    manifest = json.loads((path / "messages.json").read_bytes())
    snapshot = path / "messages" / manifest["index"]
    with snapshot.open("rb") as handle:
        header = json.loads(handle.readline())["index"]
    return {
        "slots": header["slots"],
        "live": sum(header["author_lengths"]),
        "snapshot_mb": snapshot.stat().st_size / 2**20,
    }


def _size_on_disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def child_main(argv: list[str]) -> None:
    action, kind, path, size = argv[0], argv[1], Path(argv[2]), int(argv[3])
    if action == "build":
        STORES[kind].build(path, Dataset(), size)  # type: ignore[attr-defined]
        print(json.dumps({}))
    elif action == "churn":
        print(json.dumps(asyncio.run(churn(path, size, int(kind)))))
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


def run_churn(size: int, days: int, work_dir: Path) -> dict[str, Any]:
    path = work_dir / f"churn-{size}"
    path.mkdir()
    _in_child("build", "ours", str(path), str(size))
    results = _in_child("churn", str(days), str(path), str(size))  # days where the kind goes
    shutil.rmtree(path)
    return results


# -- the crash test -------------------------------------------------------------------------

CRASH_WRITER = """
import asyncio, sys
from pathlib import Path
from bench.store_bench import Dataset
from services.store import LogLimits, LogStore

async def main() -> None:
    # Small segments and frequent snapshots: kills land in rotations and compactions too,
    # and compactions drop the records that carried counts.
    limits = LogLimits(segment_bytes=256 * 1024, snapshot_every=2_000)
    store = LogStore(Path(sys.argv[1]), limits=limits)
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
    store = LogStore(path)
    try:
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
        deadline = time.monotonic() + rng.uniform(0.2, 1.5)
        in_flight: set[int] = set()  # a delete under way when the kill came may have happened
        adding: int | None = None  # the channel of an add under way: it may have been counted
        channel_of: dict[int, int] = {}
        lines: list[str] = []
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
