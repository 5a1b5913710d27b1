"""A bound on Azure spend: calls per minute per server, and in all.

Every Azure call of the chat (a reply decision, a persona build) asks `AzureCallLimits.admit`
first; a call over either limit is not made, and the caller stays silent. The buckets are
aiolimiter's leaky buckets: a server may spend its minute in a burst, then one call every
60/limit seconds. A refusal is logged once per minute per server, not once per trigger.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from aiolimiter import AsyncLimiter

log = logging.getLogger(__name__)

MINUTE = 60.0
# Past this many servers' buckets, the ones that have drained are dropped: a drained bucket is
# exactly a new one, so forgetting it changes nothing.
_KEEP_BUCKETS = 1024

LimitReason = Literal["server", "global"]


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a call may be made; `refused_by` names the limit that said no."""

    refused_by: LimitReason | None = None

    @property
    def admitted(self) -> bool:
        return self.refused_by is None


ADMITTED = Admission()


class AzureCallLimits:
    def __init__(self, *, per_server: int, total: int, period: float = MINUTE) -> None:
        self._per_server = per_server
        self._period = period
        self._total = AsyncLimiter(total, period)
        self._servers: dict[int, AsyncLimiter] = {}
        self._refusal_logged_at: dict[int, float] = {}

    async def admit(self, guild_id: int, kind: str) -> Admission:
        """Take one call from the server's bucket and the global one, or neither."""
        server = self._servers.get(guild_id)
        if server is None:
            self._forget_drained()
            server = self._servers[guild_id] = AsyncLimiter(self._per_server, self._period)
        if not server.has_capacity():
            return self._refused(guild_id, kind, "server")
        if not self._total.has_capacity():
            return self._refused(guild_id, kind, "global")
        # Both have room: neither acquire waits (there is no await between check and take).
        await server.acquire()
        await self._total.acquire()
        return ADMITTED

    def _refused(self, guild_id: int, kind: str, limit: LimitReason) -> Admission:
        now = asyncio.get_running_loop().time()
        logged = self._refusal_logged_at.get(guild_id)
        if logged is None or now - logged >= MINUTE:
            self._refusal_logged_at[guild_id] = now
            for stale in [g for g, at in self._refusal_logged_at.items() if now - at >= MINUTE]:
                del self._refusal_logged_at[stale]
            which = "this server's" if limit == "server" else "the global"
            log.warning(
                "guild %s: Azure call (%s) not made: %s limit of calls per minute is reached "
                "(logged once a minute)",
                guild_id,
                kind,
                which,
            )
        return Admission(limit)

    def _forget_drained(self) -> None:
        if len(self._servers) < _KEEP_BUCKETS:
            return
        for guild_id, bucket in list(self._servers.items()):
            if bucket.has_capacity(bucket.max_rate):
                del self._servers[guild_id]
