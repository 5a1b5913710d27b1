"""`python -m bench.export_bench [--member-messages 10000] [--others 90000]`: how long
`/persona export` takes to build a busy member's file (30 days of their messages, in three
servers, among other members' messages), on the embedded store (plain and encrypted, whose
texts are opened one by one) and on PostgreSQL (started for the run, fsync on, as
`bench.postgres_bench` does).

Figures, not assertions: the time from the first store read to the finished file (JSON, or
gzip past Discord's 10 MiB), median and slowest of a few runs, and the file's size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from services.conversation.persona import Persona, PersonaProfiles
from services.privacy.encryption import FernetCipher
from services.privacy.member_data import MemberData
from services.store import SqliteStore, StoredMessage, UsageRow
from services.store.measured import Store
from tests.postgres_server import PostgresDatabase, start_server

MEMBER = 4242
GUILDS = (11, 12, 13)
OTHERS = 200  # other members writing beside them
ATTACHMENT_LIMIT = 10 * 1024 * 1024
RUNS = 5
GROUP = 200  # adds awaited together: the stores commit them as one group
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def message(n: int, *, mine: bool) -> StoredMessage:
    return StoredMessage(
        message_id=1_400_000_000_000_000_000 + n,
        guild_id=GUILDS[n % len(GUILDS)],
        channel_id=100 + n % 7,
        author_id=MEMBER if mine else 1 + n % OTHERS,
        author_name="a busy member" if mine else f"member {n % OTHERS}",
        content=f"message number {n}, about as long as a line of chat usually is, with some ✨",
        # Spread over the last 30 days.
        created_at=NOW - timedelta(seconds=(n * 30 * 86_400) // 200_000),
    )


async def fill(store: Store, mine: int, others: int) -> None:
    total = mine + others
    every = max(total // mine, 1)
    kept = 0
    pending: list[Awaitable[object]] = []
    for n in range(total):
        is_mine = n % every == 0 and kept < mine
        kept += is_mine
        pending.append(store.add(message(n, mine=is_mine), counted=True))
        if len(pending) == GROUP:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    for guild in GUILDS:
        await PersonaProfiles(store).put(
            Persona(guild, MEMBER, summary="Writes long, careful lines.", built_from=30)
        )
        for day in range(30):
            await store.add_usage(
                UsageRow(
                    date(2026, 11, 1) + timedelta(days=day),
                    guild,
                    100,
                    MEMBER,
                    "decision",
                    900,
                    40,
                    0,
                )
            )


async def measure(name: str, store: Store, mine: int, others: int) -> None:
    began = time.perf_counter()
    await fill(store, mine, others)
    print(f"{name}: filled {mine + others:,} messages in {time.perf_counter() - began:.1f} s")
    data = MemberData(store, retention=timedelta(days=30))
    times = []
    size, count = 0, 0
    for _ in range(RUNS):
        began = time.perf_counter()
        exported = await data.export(MEMBER, size_limit=ATTACHMENT_LIMIT)
        times.append(time.perf_counter() - began)
        size, count = len(exported.data), exported.messages
    print(
        f"{name}: export of {count:,} messages: median {statistics.median(times):.3f} s, "
        f"slowest {max(times):.3f} s, file {size / 1024 / 1024:.2f} MiB"
    )


async def on_sqlite(directory: Path, mine: int, others: int, *, encrypted: bool) -> None:
    cipher = FernetCipher(Fernet.generate_key().decode()) if encrypted else None
    store = SqliteStore(directory, cipher=cipher)
    await store.open()
    try:
        await measure("SQLite, encrypted" if encrypted else "SQLite", store, mine, others)
    finally:
        await store.close()


async def on_postgres(mine: int, others: int) -> None:
    server = start_server(options="-c fsync=on -c max_connections=50")
    try:
        database = PostgresDatabase(server, await server.create_database())
        try:
            store = await database.open_store()
            try:
                await measure("PostgreSQL", store, mine, others)
            finally:
                await store.close()
        finally:
            await database.dispose()
    finally:
        server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.export_bench", description=__doc__)
    parser.add_argument("--member-messages", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=90_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        for encrypted in (False, True):
            place = Path(temporary) / ("encrypted" if encrypted else "plain")
            asyncio.run(on_sqlite(place, args.member_messages, args.others, encrypted=encrypted))
    if not args.no_postgres:
        asyncio.run(on_postgres(args.member_messages, args.others))


if __name__ == "__main__":
    main()
