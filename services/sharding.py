"""Shards across processes: which process owns a guild, and the leases that keep it that way.

A guild is on shard `(guild_id >> 22) % shard_count` (`shard_of`), and Discord sends a shard's
events to the sessions that IDENTIFYed with it; so the process that runs a shard owns its
guilds: their counters, profiles, queues, voice and temperature. Discord would accept a second
session on the same shard (and both would answer every message), so the processes keep it to
one through the store's leases (`LeaseStore`: a row per lease, with an expiry):

- `ShardClaim`: a lease `shard:<id>` per shard of the process, taken at start, renewed every
  third of its length, released on a clean stop. After a kill -9 the leases expire by
  themselves; a process started meanwhile (the killed one, restarted) watches the lease for a
  little over one renewal interval: a holder that renews it is alive and stops the start
  (`ShardHeldError`), one that does not is dead, and the start waits out its lease. A renewal that
  finds a lease taken by another process (this one was cut off), or that cannot reach the store
  before the lease runs out, ends `keep()` with one line: the bot stops rather than answer a
  guild twice.
- The shard count: every process of a deployment must split the same `shard_count` (a guild's
  shard depends on it: processes that disagree would both own some guilds). The lease
  `shard-layout` is held by the owner `shard-count:<n>`, the same for every process of that
  count, so they all renew it and one with another count is refused at its claim. It is never
  released: it expires `ttl` after the last process of the old count stops (changing
  SHARD_COUNT means stopping every process, then waiting that long).
- `IdentifyTurns`: Discord allows one IDENTIFY per 5 s per bucket `shard_id % max_concurrency`,
  for the whole token. Before each IDENTIFY a process takes the lease `identify:<bucket>` for
  those 5 s and never releases it early: its expiry is the spacing, whichever process is next.
- `session_budget_problem`: Discord resets the token of a bot that starts too many sessions a
  day (`session_start_limit`); below a small floor the bot does not start.

No discord import here (import-linter checks): the glue is `app/sharding.py`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.store.model import LeaseHolder, LeaseStore

log = logging.getLogger(__name__)

IDENTIFY_SPACING_SECONDS = 5.0  # Discord: one IDENTIFY per bucket per 5 s
SESSION_START_MARGIN = 5  # session starts kept in hand beyond one per shard to start
LEASE_SECONDS = 60.0  # a shard lease not renewed for this long is free again
_RETRY_FLOOR_SECONDS = 0.05  # the shortest pause between two tries
# How long a held shard lease is watched, in renewal intervals, to tell a live holder (it renews
# within one) from a killed one: a little over one, for a renewal that comes late.
_WATCH_INTERVALS = 1.25

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard a guild's events arrive on, and so the process that owns the guild."""
    return (guild_id >> 22) % shard_count


def shard_lease(shard_id: int) -> str:
    return f"shard:{shard_id}"


LAYOUT_LEASE = "shard-layout"


def layout_owner(shard_count: int) -> str:
    """The owner of the layout lease: the same for every process that splits `shard_count`."""
    return f"shard-count:{shard_count}"


def identify_lease(bucket: int) -> str:
    return f"identify:{bucket}"


def process_identity() -> str:
    """A lease owner for this process: host, pid and a random tag (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def describe_shards(shard_ids: Sequence[int]) -> str:
    """`0`, `0, 2` or `0-3`: the shards as an operator wrote them."""
    ids = sorted(shard_ids)
    if len(ids) > 2 and ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}-{ids[-1]}"
    return ", ".join(str(i) for i in ids)


# -- what this process runs ----------------------------------------------------------------


@dataclass(frozen=True)
class ShardPlan:
    count: int
    shard_ids: tuple[int, ...]

    @property
    def runs_all(self) -> bool:
        return self.shard_ids == tuple(range(self.count))


def plan_shards(count: int | None, shard_ids: Sequence[int] | None, recommended: int) -> ShardPlan:
    """The shards to run: the configured ones, else all of `count`, else all of Discord's
    recommended count."""
    total = count if count is not None else max(recommended, 1)
    ids = tuple(sorted(set(shard_ids))) if shard_ids is not None else tuple(range(total))
    outside = [i for i in ids if not 0 <= i < total]
    if outside:
        raise ValueError(f"shard ids {outside} are not below the shard count {total}")
    return ShardPlan(total, ids)


@dataclass(frozen=True)
class SessionStartLimit:
    """`session_start_limit` of `GET /gateway/bot`."""

    total: int
    remaining: int
    reset_after_seconds: float
    max_concurrency: int

    def describe(self) -> str:
        hours = self.reset_after_seconds / 3600
        return (
            f"{self.remaining}/{self.total} session starts left today (reset in {hours:.1f} h), "
            f"max_concurrency {self.max_concurrency}"
        )


def session_budget_problem(limit: SessionStartLimit, shards: int) -> str | None:
    """One line when starting `shards` sessions would leave Discord's daily budget below the
    floor (Discord resets the token of a bot that runs out); None when there is room."""
    needed = shards + SESSION_START_MARGIN
    if limit.remaining >= needed:
        return None
    hours = limit.reset_after_seconds / 3600
    return (
        f"Discord allows only {limit.remaining} more session starts today (of {limit.total}; "
        f"the count resets in {hours:.1f} h): not starting {shards} shard(s), which needs at "
        f"least {needed}, so that the token is not reset; look for a process that restarts "
        "in a loop."
    )


# -- the shard leases ----------------------------------------------------------------------


class ShardHeldError(Exception):
    """A shard of this process is held by another live process, or the live processes split
    another shard count; the message is one line."""


class ShardClaim:
    """This process's shard leases: taken, renewed until lost, released."""

    def __init__(
        self,
        leases: LeaseStore,
        shard_ids: Sequence[int],
        *,
        shard_count: int,
        ttl_seconds: float = LEASE_SECONDS,
        owner: str | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._leases = leases
        self.shard_ids = tuple(shard_ids)
        self.shard_count = shard_count
        self.ttl = ttl_seconds
        self.owner = owner or process_identity()
        self._clock = clock
        self._sleep = sleep
        self._held: list[int] = []
        self._valid_until = 0.0  # by `clock`: until when every lease is surely ours

    @property
    def renew_every(self) -> float:
        return self.ttl / 3

    async def claim(self) -> None:
        """Take every shard's lease, or none: raises `ShardHeldError` when the live processes
        split another shard count, or for the first shard that another live process holds
        (and gives back those taken before it). A shard whose holder stopped renewing its
        lease (killed) is waited for, with one log line, until the lease expires."""
        while True:
            refused = await self._try_claim()
            if refused is None:
                return
            await self._outwait(*refused)

    async def _try_claim(self) -> tuple[int, LeaseHolder | None] | None:
        """Take every lease; else give back those taken and return the refused shard and
        its holder (None: it was freed a moment ago)."""
        started = self._clock()
        layout = layout_owner(self.shard_count)
        if not await self._leases.try_acquire(LAYOUT_LEASE, layout, self.ttl):
            holder = await self._leases.lease_holder(LAYOUT_LEASE)
            theirs = "another"
            if holder is not None:
                count = holder.owner.removeprefix("shard-count:")
                theirs = f"{count} (for {holder.seconds_left:.0f} s more unless they renew it)"
            raise ShardHeldError(
                f"SHARD_COUNT is {self.shard_count} here but {theirs} in the processes running "
                "now: refusing to start, as processes that split different counts would both "
                "answer some guilds; give every process the same SHARD_COUNT (to change it, "
                "stop them all and start them again once theirs has expired)."
            )
        for shard_id in self.shard_ids:
            name = shard_lease(shard_id)
            if await self._leases.try_acquire(name, self.owner, self.ttl):
                self._held.append(shard_id)
                continue
            holder = await self._leases.lease_holder(name)
            await self.release()
            return shard_id, holder
        self._valid_until = started + self.ttl
        log.info(
            "claimed shard(s) %s for %g s, renewed every %.3g s (as %s)",
            describe_shards(self.shard_ids),
            self.ttl,
            self.renew_every,
            self.owner,
        )
        return None

    async def _outwait(self, shard_id: int, holder: LeaseHolder | None) -> None:
        """Return once the lease of `shard_id` is free (its holder stopped renewing it, so it
        expires); raise `ShardHeldError` as soon as a live process is seen holding it.

        A live holder renews every third of its lease, so its expiry moves forward within a
        little over one renewal interval; a killed one's stays put, and its lease is waited out
        (one warning: which shard, whose lease, how long at most)."""
        if holder is None:  # freed between the refusal and the look: try again at once
            return
        name = shard_lease(shard_id)
        began = self._clock()
        expires = began + holder.seconds_left  # by our clock
        watch_until = began + self.renew_every * _WATCH_INTERVALS
        # A renewal moves the expiry by a renewal interval; the look itself takes a moment.
        tolerance = min(0.25, self.renew_every / 4)
        judged_dead = False
        while True:
            now = self._clock()
            if not judged_dead and now >= watch_until:
                judged_dead = True
                log.warning(
                    "Shard %d is still leased to %s, which has stopped renewing it (killed?): "
                    "waiting up to %.0f s for that lease to expire, then running the shard",
                    shard_id,
                    holder.owner,
                    max(expires - now, 0.0),
                )
            until = expires if judged_dead else min(watch_until, expires)
            pause = min(until - now, self.renew_every / 4)
            await self._sleep(max(pause, _RETRY_FLOOR_SECONDS))
            current = await self._leases.lease_holder(name)
            if current is None:  # expired, or given back: try again
                return
            renewed = self._clock() + current.seconds_left > expires + tolerance
            if current.owner != holder.owner or renewed:
                raise ShardHeldError(
                    f"Shard {shard_id} is already run by another live process ({current.owner}, "
                    "which renews its lease): refusing to run it twice (both would answer "
                    "every message); give each process its own SHARD_IDS."
                )

    async def keep(self) -> str:
        """Renew the leases until one is lost; then the line that says why (the bot must
        stop). Runs until cancelled otherwise."""
        pause = self.renew_every
        failure: BaseException | None = None  # why the renewals fail, while they do
        while True:
            await self._sleep(pause)
            started = self._clock()
            left = self._valid_until - started
            try:
                if left <= 0:
                    raise failure or TimeoutError("the last renewal was too long ago")
                async with asyncio.timeout(left):
                    lost = await self._renew_all()
            except Exception as error:  # TimeoutError, an unreachable store
                left = self._valid_until - self._clock()
                if left <= 0:
                    return (
                        f"Could not renew the lease of shard(s) {describe_shards(self._held)} "
                        f"before it expired ({_reason(error)}): stopping, as another process "
                        "may run them now."
                    )
                if failure is None:
                    log.warning(
                        "could not renew the shard leases (%s); trying again for %.0f s",
                        _reason(error),
                        left,
                    )
                failure = error
                pause = min(self.renew_every / 4, left)  # the last try ends at the expiry
                continue
            if lost is not None:
                return lost
            if failure is not None:
                log.warning("shard leases renewed again")
            failure = None
            self._valid_until = started + self.ttl
            pause = self.renew_every

    async def _renew_all(self) -> str | None:
        if not await self._leases.try_acquire(
            LAYOUT_LEASE, layout_owner(self.shard_count), self.ttl
        ):
            holder = await self._leases.lease_holder(LAYOUT_LEASE)
            theirs = holder.owner.removeprefix("shard-count:") if holder else "another count"
            return (
                f"Processes splitting SHARD_COUNT {theirs} took over while this one ran with "
                f"{self.shard_count} (cut off from the database for too long?): stopping, so "
                "that no guild is answered twice."
            )
        for shard_id in self._held:
            name = shard_lease(shard_id)
            if await self._leases.try_acquire(name, self.owner, self.ttl):
                continue
            holder = await self._leases.lease_holder(name)
            self._held.remove(shard_id)  # not ours to release any more
            who = holder.owner if holder is not None else "another process"
            return (
                f"Shard {shard_id} was taken over by {who} while this process ran it (cut off "
                "from the database for too long?): stopping, so that its guilds are not "
                "answered twice."
            )
        return None

    async def release(self) -> None:
        """Give the leases back (a clean stop): another process may take them at once."""
        held, self._held = self._held, []
        for shard_id in held:
            try:
                await self._leases.release(shard_lease(shard_id), self.owner)
            except Exception as error:  # they expire on their own
                log.warning("shard %d lease not released (%s)", shard_id, _reason(error))


# -- the IDENTIFY spacing ------------------------------------------------------------------


class IdentifyTurns:
    """One IDENTIFY per bucket per `spacing` seconds, across every process on the store."""

    def __init__(
        self,
        leases: LeaseStore,
        *,
        owner: str | None = None,
        max_concurrency: int = 1,
        spacing: float = IDENTIFY_SPACING_SECONDS,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._leases = leases
        self._owner = owner or process_identity()
        self.max_concurrency = max(max_concurrency, 1)
        self.spacing = spacing
        self._clock = clock
        self._sleep = sleep
        self._turns = itertools.count(1)

    def bucket(self, shard_id: int) -> int:
        return shard_id % self.max_concurrency

    async def wait_turn(self, shard_id: int) -> float:
        """Return when `shard_id` may IDENTIFY (its bucket's lease is taken for `spacing`
        seconds, never given back early); the seconds it waited."""
        bucket = self.bucket(shard_id)
        name = identify_lease(bucket)
        # A new owner for every IDENTIFY: the same one would just renew its own lease.
        mine = f"{self._owner}:shard-{shard_id}:{next(self._turns)}"
        began = self._clock()
        waited = 0.0
        while not await self._leases.try_acquire(name, mine, self.spacing):
            holder = await self._leases.lease_holder(name)
            left = holder.seconds_left if holder is not None else 0.0
            await self._sleep(max(min(left, self.spacing), _RETRY_FLOOR_SECONDS))
            waited = self._clock() - began
        if waited > 0:
            log.info(
                "shard %d waited %.1f s for its IDENTIFY turn (bucket %d)", shard_id, waited, bucket
            )
        return waited
