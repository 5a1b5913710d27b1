"""Shards across processes: who owns a guild, the shard leases and the IDENTIFY spacing, on
`MemoryLeases` with a clock the tests move."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

import pytest

from services.sharding import (
    SESSION_START_MARGIN,
    IdentifyTurns,
    SessionStartLimit,
    ShardClaim,
    ShardHeldError,
    describe_shards,
    plan_shards,
    session_budget_problem,
    shard_of,
)
from services.store import MemoryLeases, MemoryStore
from services.store.model import LeaseHolder, LeaseStore


class FakeTime:
    """A clock that moves only when someone sleeps; `stop_after` sleeps end the sleeper;
    `each_sleep` runs after every sleep (another process's work meanwhile)."""

    def __init__(
        self,
        stop_after: int | None = None,
        each_sleep: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._stop_after = stop_after
        self.each_sleep = each_sleep

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if self._stop_after is not None and len(self.sleeps) >= self._stop_after:
            raise asyncio.CancelledError
        self.sleeps.append(seconds)
        self.now += seconds
        if self.each_sleep is not None:
            await self.each_sleep()
        await asyncio.sleep(0)


def renewing(leases: LeaseStore, clock: FakeTime, owner: str, shards: list[int]) -> None:
    """`owner` is a live process of 60 s leases: it renews `shards` every 20 s of `clock`."""
    last = clock.now

    async def renew() -> None:
        nonlocal last
        while clock.now - last >= 20:
            last += 20
            for shard in shards:
                assert await leases.try_acquire(f"shard:{shard}", owner, 60)

    clock.each_sleep = renew


def claim_of(
    leases: LeaseStore,
    shard_ids: list[int],
    owner: str,
    time: FakeTime | None = None,
    *,
    count: int = 2,
) -> ShardClaim:
    """`owner`'s claim of `shard_ids` of `count` shards for 60 s, on `time` (else real time)."""
    if time is None:
        return ShardClaim(leases, shard_ids, shard_count=count, ttl_seconds=60, owner=owner)
    return ShardClaim(
        leases,
        shard_ids,
        shard_count=count,
        ttl_seconds=60,
        owner=owner,
        clock=time.clock,
        sleep=time.sleep,
    )


class Unreachable:
    """Leases whose store stops answering once `down` is set."""

    def __init__(self, leases: MemoryLeases) -> None:
        self.leases = leases
        self.down = False

    async def try_acquire(self, name: str, owner: str, ttl_seconds: float) -> bool:
        if self.down:
            raise OSError("connection refused")
        return await self.leases.try_acquire(name, owner, ttl_seconds)

    async def release(self, name: str, owner: str) -> None:
        if self.down:
            raise OSError("connection refused")
        await self.leases.release(name, owner)

    async def lease_holder(self, name: str) -> LeaseHolder | None:
        return await self.leases.lease_holder(name)


def test_a_guild_belongs_to_the_shard_of_its_id() -> None:
    guild = (123_456 << 22) | 0x3FFFFF  # the low 22 bits (worker, process, increment) do not count
    assert shard_of(guild, 1) == 0
    assert shard_of(guild, 2) == 123_456 % 2
    assert shard_of(guild, 7) == 123_456 % 7
    assert {shard_of(n << 22, 4) for n in range(8)} == {0, 1, 2, 3}


def test_the_plan_is_the_configured_shards_else_all_of_the_count() -> None:
    assert plan_shards(None, None, recommended=3) == plan_shards(3, None, recommended=1)
    assert plan_shards(None, None, recommended=3).shard_ids == (0, 1, 2)
    assert plan_shards(None, None, recommended=0).shard_ids == (0,)
    half = plan_shards(4, [3, 2, 2], recommended=1)
    assert (half.count, half.shard_ids, half.runs_all) == (4, (2, 3), False)
    assert plan_shards(2, [0, 1], recommended=8).runs_all
    with pytest.raises(ValueError, match="not below the shard count 2"):
        plan_shards(2, [2], recommended=1)
    assert describe_shards([0, 1, 2, 3]) == "0-3"
    assert describe_shards([2, 0]) == "0, 2"


def test_the_bot_does_not_start_below_the_session_start_floor() -> None:
    limit = SessionStartLimit(total=1000, remaining=9, reset_after_seconds=7200, max_concurrency=1)
    assert session_budget_problem(limit, shards=9 - SESSION_START_MARGIN) is None
    problem = session_budget_problem(limit, shards=10 - SESSION_START_MARGIN)
    assert problem is not None and "\n" not in problem
    assert "only 9 more session starts today (of 1000" in problem
    assert "resets in 2.0 h" in problem
    assert limit.describe() == (
        "9/1000 session starts left today (reset in 2.0 h), max_concurrency 1"
    )


async def test_a_shard_held_by_a_live_process_is_refused_and_nothing_is_kept() -> None:
    clock = FakeTime()
    leases = MemoryStore(clock.clock)  # the store's lease port
    first = claim_of(leases, [1], "first", clock)
    await first.claim()
    clock.now = 5.0
    renewing(leases, clock, "first", [1])
    second = claim_of(leases, [0, 1], "second", clock)
    with pytest.raises(ShardHeldError) as refused:
        await second.claim()
    line = str(refused.value)
    assert "\n" not in line
    assert line.startswith("Shard 1 is already run by another live process (first, which renews")
    # Told from a dead one within a little over one renewal (20 s): its first renewal, at 20 s.
    assert 20.0 <= clock.now <= 5.0 + 20.0 * 1.25
    assert await leases.lease_holder("shard:0") is None  # shard 0 was given back
    holder = await leases.lease_holder("shard:1")
    assert holder is not None and holder.owner == "first"


async def test_processes_splitting_another_shard_count_are_refused_until_theirs_expires() -> None:
    clock = FakeTime()
    leases = MemoryLeases(clock.clock)
    first = claim_of(leases, [0], "a", clock)
    second = claim_of(leases, [1], "b", clock)
    await first.claim()
    await second.claim()  # the same count: they share the layout
    clock.now = 10.0
    other = claim_of(leases, [2, 3], "c", clock, count=4)
    with pytest.raises(ShardHeldError) as refused:
        await other.claim()
    line = str(refused.value)
    assert "\n" not in line
    assert line.startswith(
        "SHARD_COUNT is 4 here but 2 (for 50 s more unless they renew it) in the processes"
    )
    assert await leases.lease_holder("shard:2") is None  # nothing taken
    # Stopped cleanly, the old processes free their shards, not the layout: it expires.
    await first.release()
    await second.release()
    with pytest.raises(ShardHeldError, match=r"^SHARD_COUNT is 4 here but 2"):
        await other.claim()
    clock.now = 60.5
    await other.claim()
    assert await leases.lease_holder("shard-layout") == LeaseHolder("shard-count:4", 60.0)


async def test_a_layout_taken_over_by_another_count_stops_the_bot_with_one_line() -> None:
    clock = FakeTime()
    leases = MemoryLeases(clock.clock)
    claim = claim_of(leases, [0], "cut-off", clock)
    await claim.claim()
    # Partitioned for longer than the lease: processes of another count started meanwhile.
    await leases.release("shard-layout", "shard-count:2")
    await leases.try_acquire("shard-layout", "shard-count:3", 60)
    line = await claim.keep()
    assert line.startswith("Processes splitting SHARD_COUNT 3 took over while this one ran with 2")
    assert "\n" not in line


async def test_a_restart_waits_out_the_lease_of_the_killed_process_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeTime()
    leases = MemoryLeases(clock.clock)
    await claim_of(leases, [0, 1], "killed", clock).claim()  # then kill -9: no more renewals
    clock.now = 3.0
    with caplog.at_level(logging.INFO, logger="services.sharding"):
        await claim_of(leases, [0, 1], "restarted", clock).claim()  # returns: no exit 1
    assert 60.0 <= clock.now <= 60.0 + 1.0  # as soon as the killed process's lease expired
    for shard in (0, 1):
        assert await leases.lease_holder(f"shard:{shard}") == LeaseHolder("restarted", 60.0)
    waits = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert waits == [
        "Shard 0 is still leased to killed, which has stopped renewing it (killed?): waiting "
        "up to 32 s for that lease to expire, then running the shard"
    ]


async def test_a_lease_given_back_while_it_is_watched_is_taken_at_once() -> None:
    clock = FakeTime()
    leases = MemoryLeases(clock.clock)
    stopping = claim_of(leases, [0], "stopping", clock)
    await stopping.claim()

    async def stops_cleanly() -> None:
        if clock.now >= 10:
            await stopping.release()

    clock.each_sleep = stops_cleanly
    await claim_of(leases, [0], "next", clock).claim()
    assert clock.now < 15.0
    assert await leases.lease_holder("shard:0") == LeaseHolder("next", 60.0)


async def test_a_process_that_takes_the_lease_first_stops_the_one_still_waiting() -> None:
    clock = FakeTime()
    leases = MemoryLeases(clock.clock)
    await claim_of(leases, [0], "killed", clock).claim()

    async def another_restart_wins() -> None:
        if clock.now >= 60:  # the killed lease expired, and the other restart took it
            await leases.try_acquire("shard:0", "faster", 60)

    clock.each_sleep = another_restart_wins
    with pytest.raises(
        ShardHeldError,
        match=r"^Shard 0 is already run by another live process "
        r"\(faster, ",
    ):
        await claim_of(leases, [0], "slower", clock).claim()
    holder = await leases.lease_holder("shard:0")
    assert holder is not None and holder.owner == "faster"


async def test_a_clean_stop_frees_the_shards_at_once() -> None:
    leases = MemoryLeases()
    claim = claim_of(leases, [0, 1], "stopping")
    await claim.claim()
    await claim.release()
    await claim_of(leases, [0, 1], "next").claim()


async def test_renewals_keep_the_shards_for_as_long_as_the_process_runs() -> None:
    clock = FakeTime(stop_after=30)  # 30 renewals: 600 s, ten times the lease
    leases = MemoryLeases(clock.clock)
    claim = claim_of(leases, [0, 1], "alive", clock)
    await claim.claim()
    with pytest.raises(asyncio.CancelledError):
        await claim.keep()
    assert clock.sleeps == [20.0] * 30  # well before the expiry, every time
    assert clock.now == 600.0
    for shard in (0, 1):
        holder = await leases.lease_holder(f"shard:{shard}")
        assert holder is not None and holder.owner == "alive"


async def test_a_lease_taken_by_another_process_stops_the_bot_with_one_line() -> None:
    clock = FakeTime()
    leases = MemoryLeases(clock.clock)
    claim = claim_of(leases, [0, 1], "cut-off", clock)
    await claim.claim()
    # Partitioned: its lease of shard 1 expired in the database and another process took it.
    await leases.release("shard:1", "cut-off")
    await leases.try_acquire("shard:1", "newcomer", 60)
    line = await claim.keep()
    assert line.startswith("Shard 1 was taken over by newcomer while this process ran it")
    assert "\n" not in line
    await claim.release()  # what is still its own (shard 0) and nothing of the newcomer's
    assert await leases.lease_holder("shard:0") is None
    assert await leases.lease_holder("shard:1") == LeaseHolder("newcomer", 40.0)


async def test_renewals_that_cannot_reach_the_store_stop_the_bot_when_the_lease_runs_out() -> None:
    clock = FakeTime()
    store = Unreachable(MemoryLeases(clock.clock))
    claim = claim_of(store, [0], "isolated", clock)
    await claim.claim()
    store.down = True
    line = await claim.keep()
    assert line.startswith("Could not renew the lease of shard(s) 0 before it expired (OSError")
    assert clock.now >= 60.0  # not before the lease could have been lost
    assert clock.now <= 60.0 + 20.0
    store.down = False
    await claim.release()


async def test_a_store_that_comes_back_in_time_loses_nothing() -> None:
    clock = FakeTime()
    store = Unreachable(MemoryLeases(clock.clock))
    claim = claim_of(store, [0], "patient", clock)
    await claim.claim()
    store.down = True

    async def back_in_time(seconds: float) -> None:
        await clock.sleep(seconds)
        if clock.now >= 45:
            store.down = False
        if clock.now >= 200:
            raise asyncio.CancelledError

    claim._sleep = back_in_time
    with pytest.raises(asyncio.CancelledError):
        await claim.keep()
    holder = await store.lease_holder("shard:0")
    assert holder is not None and holder.owner == "patient"


async def test_identifies_are_spaced_per_bucket_across_processes() -> None:
    clock = FakeTime()
    leases = MemoryLeases(clock.clock)  # one store, two processes
    one = IdentifyTurns(
        leases, owner="one", max_concurrency=2, clock=clock.clock, sleep=clock.sleep
    )
    two = IdentifyTurns(
        leases, owner="two", max_concurrency=2, clock=clock.clock, sleep=clock.sleep
    )
    turns: list[tuple[str, int, float]] = []
    for process, shard in ((one, 0), (two, 1), (two, 2), (one, 3), (one, 4), (two, 6)):
        await process.wait_turn(shard)
        turns.append((process._owner, shard, clock.now))
    assert turns == [
        ("one", 0, 0.0),  # bucket 0
        ("two", 1, 0.0),  # bucket 1: at once
        ("two", 2, 5.0),  # bucket 0 again: 5 s after shard 0, though another process's
        ("one", 3, 5.0),  # bucket 1: 5 s after shard 1
        ("one", 4, 10.0),  # the same process's next one in bucket 0 waits too
        ("two", 6, 15.0),
    ]


async def test_concurrent_identifies_of_one_bucket_never_come_within_the_spacing() -> None:
    leases = MemoryLeases()
    processes = [IdentifyTurns(leases, owner=f"p{n}", spacing=0.05) for n in range(3)]
    taken: list[float] = []

    async def identify(process: IdentifyTurns, shard: int) -> None:
        await process.wait_turn(shard)
        taken.append(time.monotonic())

    await asyncio.gather(*(identify(p, shard) for p in processes for shard in (0, 1)))
    taken.sort()
    assert len(taken) == 6
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(taken))
