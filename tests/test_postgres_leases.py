"""The lease port on PostgreSQL: what keeps two processes from running one shard, and spaces
their IDENTIFYs, on the suite's real server."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from services.sharding import IdentifyTurns, ShardClaim, ShardHeldError
from services.store.postgres import PostgresStore
from tests.harness import eventually
from tests.postgres_server import PostgresDatabase


async def test_a_lease_is_taken_renewed_refused_and_released(
    postgres_database: PostgresDatabase,
) -> None:
    store = await postgres_database.open_store()
    assert await store.lease_holder("shard:0") is None
    assert await store.try_acquire("shard:0", "one", 60)
    assert await store.try_acquire("shard:0", "one", 60)  # its own: renewed
    assert not await store.try_acquire("shard:0", "two", 60)
    holder = await store.lease_holder("shard:0")
    assert holder is not None and holder.owner == "one"
    assert 59 < holder.seconds_left <= 60
    await store.release("shard:0", "two")  # not its lease: nothing happens
    assert not await store.try_acquire("shard:0", "two", 60)
    await store.release("shard:0", "one")
    assert await store.lease_holder("shard:0") is None
    assert await store.try_acquire("shard:0", "two", 60)


async def test_an_expired_lease_is_anyones(postgres_database: PostgresDatabase) -> None:
    store = await postgres_database.open_store()
    assert await store.try_acquire("identify:0", "dead", 0.2)
    await eventually(lambda: _free(store, "identify:0"), timeout=5)
    assert await store.try_acquire("identify:0", "next", 60)
    rows = await postgres_database.query("SELECT name, owner FROM leases WHERE name LIKE 'id%'")
    assert [(r["name"], r["owner"]) for r in rows] == [("identify:0", "next")]


async def _free(store: PostgresStore, name: str) -> bool:
    return await store.lease_holder(name) is None


async def test_two_processes_cannot_claim_one_shard(postgres_database: PostgresDatabase) -> None:
    first, second = [await postgres_database.open_store() for _ in range(2)]
    # Short leases: the second process tells a live holder (it renews every 0.5 s) in 0.6 s.
    alive = ShardClaim(first, [0], shard_count=2, ttl_seconds=1.5, owner="first")
    await alive.claim()
    renewing = asyncio.create_task(alive.keep())
    try:
        with pytest.raises(
            ShardHeldError, match=r"^Shard 0 is already run by another live process \(first, "
        ):
            await ShardClaim(second, [1, 0], shard_count=2, ttl_seconds=1.5, owner="second").claim()
        assert await second.lease_holder("shard:1") is None  # what it took is given back
        await ShardClaim(second, [1], shard_count=2, ttl_seconds=1.5, owner="second").claim()
    finally:
        renewing.cancel()


async def test_a_killed_process_s_shard_is_waited_for_then_claimed(
    postgres_database: PostgresDatabase,
) -> None:
    killed, restarted = [await postgres_database.open_store() for _ in range(2)]
    await ShardClaim(killed, [0], shard_count=2, ttl_seconds=1.5, owner="killed").claim()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await ShardClaim(restarted, [0], shard_count=2, ttl_seconds=1.5, owner="restarted").claim()
    assert 0.5 < loop.time() - began < 5  # the killed one's lease ran out first (server clock)
    holder = await restarted.lease_holder("shard:0")
    assert holder is not None and holder.owner == "restarted"


async def test_processes_of_another_shard_count_are_refused(
    postgres_database: PostgresDatabase,
) -> None:
    first, second, third = [await postgres_database.open_store() for _ in range(3)]
    await ShardClaim(first, [0], shard_count=2, ttl_seconds=60, owner="first").claim()
    await ShardClaim(second, [1], shard_count=2, ttl_seconds=60, owner="second").claim()
    with pytest.raises(ShardHeldError, match=r"^SHARD_COUNT is 3 here but 2 \(for "):
        await ShardClaim(third, [2], shard_count=3, ttl_seconds=60, owner="third").claim()
    assert await third.lease_holder("shard:2") is None


async def test_identifies_of_one_bucket_are_spaced_across_stores(
    postgres_database: PostgresDatabase,
) -> None:
    stores = [await postgres_database.open_store() for _ in range(2)]
    turns = [IdentifyTurns(s, owner=f"p{n}", spacing=0.3) for n, s in enumerate(stores)]
    loop = asyncio.get_running_loop()
    taken: list[float] = []

    async def identify(process: IdentifyTurns, shard: int) -> None:
        await process.wait_turn(shard)
        taken.append(loop.time())

    await asyncio.gather(*(identify(t, 0) for t in turns), identify(turns[0], 2))
    taken.sort()
    gaps = [b - a for a, b in itertools.pairwise(taken)]
    assert len(gaps) == 2 and min(gaps) >= 0.28, gaps  # the server's clock, read from here
