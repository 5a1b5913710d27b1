"""The discord.py side of running some of the shards: what `AzureBot` asks before it connects.

At start (`ShardGate.open`, from the bot's `connect()`, logged in but not connected yet):
`GET /gateway/bot` gives Discord's recommended shard count and the `session_start_limit`
(logged; below the floor the bot does not start), the plan says which shards this process
runs (`SHARD_COUNT`/`SHARD_IDS`, else all of the recommended count), and their leases are
claimed (a shard that a live process holds stops the start). Then each IDENTIFY waits for its
bucket's turn (`before_identify`, from discord.py's `before_identify_hook`), and the leases
are renewed in the background until the bot closes, which releases them. The rules live in
`services/sharding.py`; this module only reads Discord and reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import discord
from discord.gateway import ReconnectWebSocket
from discord.shard import Shard

from services.background import BackgroundTasks
from services.sharding import (
    IdentifyTurns,
    SessionStartLimit,
    ShardClaim,
    ShardHeldError,
    ShardPlan,
    describe_shards,
    plan_shards,
    process_identity,
    session_budget_problem,
)
from services.store import LeaseStore

log = logging.getLogger(__name__)


class ShardStartRefused(Exception):
    """The bot must not connect (a shard held elsewhere, the daily budget spent); the message
    is one line for the operator."""


def session_start_limit(data: Mapping[str, Any]) -> SessionStartLimit:
    return SessionStartLimit(
        total=int(data["total"]),
        remaining=int(data["remaining"]),
        reset_after_seconds=int(data["reset_after"]) / 1000,
        max_concurrency=int(data.get("max_concurrency") or 1),
    )


class ShardGate:
    """Claims this process's shards before the gateway, spaces its IDENTIFYs, keeps the
    leases; `lost` is called once (with the line to print) when a lease is lost."""

    def __init__(
        self,
        leases: LeaseStore,
        *,
        shard_count: int | None,
        shard_ids: tuple[int, ...] | None,
        lease_seconds: float,
        lost: Callable[[str], None],
    ) -> None:
        self._leases = leases
        # Its own tasks: the renewal runs as long as the bot, and the bot's tasks going idle
        # (what tests wait for) must not wait for it.
        self._tasks = BackgroundTasks()
        self._shard_count = shard_count
        self._shard_ids = shard_ids
        self._lease_seconds = lease_seconds
        self._lost = lost
        self._owner = process_identity()
        self._claim: ShardClaim | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._turns = IdentifyTurns(leases, owner=self._owner)
        self.plan: ShardPlan | None = None

    async def open(self, http: discord.http.HTTPClient) -> ShardPlan:
        """Read the gateway's limits, plan the shards and claim them; raises
        `ShardStartRefused` with one line."""
        recommended, _url, limits = await http.get_bot_gateway()
        limit = session_start_limit(limits)
        log.info("Discord recommends %d shard(s); %s", recommended, limit.describe())
        plan = plan_shards(self._shard_count, self._shard_ids, recommended)
        if plan.count < recommended:
            log.warning(
                "SHARD_COUNT %d is below Discord's recommended %d: Discord may refuse the "
                "sessions (close code 4011, sharding required)",
                plan.count,
                recommended,
            )
        problem = session_budget_problem(limit, len(plan.shard_ids))
        if problem is not None:
            raise ShardStartRefused(problem)
        claim = ShardClaim(
            self._leases,
            plan.shard_ids,
            shard_count=plan.count,
            ttl_seconds=self._lease_seconds,
            owner=self._owner,
        )
        try:
            await claim.claim()
        except ShardHeldError as error:
            raise ShardStartRefused(str(error)) from None
        self._claim = claim
        self._turns = IdentifyTurns(
            self._leases, owner=self._owner, max_concurrency=limit.max_concurrency
        )
        self._keeper = self._tasks.spawn(self._keep(claim), "shard leases")
        self.plan = plan
        log.info("running shard(s) %s of %d", describe_shards(plan.shard_ids), plan.count)
        return plan

    async def _keep(self, claim: ShardClaim) -> None:
        self._lost(await claim.keep())

    async def before_identify(self, shard_id: int | None) -> None:
        """Wait for this shard's IDENTIFY turn across every process on the store."""
        await self._turns.wait_turn(shard_id or 0)

    async def close(self) -> None:
        """Stop renewing and give the leases back (call once the gateway is closed).

        The bot closes more than once (a signal's shutdown task, then the exit of its
        context), and the first caller may be cancelled on the way: the release runs in a task
        of its own, which every caller waits for."""
        if self._closing is None:
            self._closing = self._tasks.spawn(self._release(), "shard lease release")
        await asyncio.shield(self._closing)

    async def _release(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        claim, self._claim = self._claim, None
        if claim is not None:
            await claim.release()


def resume_after_failed_reconnects(shard: Shard) -> None:
    """Make a shard try RESUME when it reconnects after a failed attempt, as `Client` does.

    discord.py's `AutoShardedClient` RESUMEs a dropped shard once; if that attempt fails (the
    gateway or the network still down), its next attempts IDENTIFY anew: a new session, so
    the events of the outage are lost and a session start of the day is spent. `Client` always
    tries RESUME first (an invalid session then falls back to IDENTIFY), and so does this.
    """
    if getattr(shard, "_resumes_first", False):  # launch_shard retries call us again
        return
    identify_anew = shard.reconnect

    async def reconnect() -> None:
        if shard.ws.session_id is None:  # never had a session: nothing to resume
            await identify_anew()
            return
        await shard.reidentify(ReconnectWebSocket(shard.id, resume=True))

    shard.reconnect = reconnect  # type: ignore[method-assign]
    setattr(shard, "_resumes_first", True)  # noqa: B010 (Shard declares no such attribute)
