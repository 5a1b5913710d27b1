"""Token accounting: what every Azure call cost, against the server, channel and member it was
for, per UTC day, in the store (`UsageStore`): what budgets and `/setup show` read.

The write happens after the call, off the caller's path: `record` returns at once and the row
is added by a background task, so a reply is never held up by a store write. A write that
fails (the store is out) loses that call's count and logs one line; the reply goes on.

Usage rows are data about a member (ids and counts, never text): `forget` removes them, after
the writes already under way, and a call recorded for a member who opted out meanwhile is
counted for the server only (member 0). They expire with RETENTION_DAYS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.background import BackgroundTasks
from services.llm import TokenUsage
from services.store import StoreOutageError, UsageRow, UsageStore

log = logging.getLogger(__name__)

NO_CHANNEL = 0  # a call for the member, not for a channel: a persona build
NO_MEMBER = 0  # a call for the server only (its member opted out meanwhile)


@dataclass(frozen=True)
class SpentFor:
    """Who a call was made for."""

    guild_id: int
    channel_id: int
    member_id: int


class TokenAccounting:
    def __init__(
        self,
        store: UsageStore,
        tasks: BackgroundTasks,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._tasks = tasks
        self._clock = clock
        self._writing: set[asyncio.Task[None]] = set()
        self._may_keep: Callable[[int, int], bool] = lambda _guild, _member: True

    def require_consent(self, may_keep: Callable[[int, int], bool]) -> None:
        """Ask `may_keep(guild, member)` before a row names the member (the privacy rule)."""
        self._may_keep = may_keep

    def today(self) -> date:
        return self._clock().astimezone(UTC).date()

    def record(self, kind: str, spent_for: SpentFor, usage: TokenUsage) -> None:
        """Count `usage` of one call of `kind` (`decision`, `persona`...); returns at once."""
        if not usage.spent:
            return
        member = spent_for.member_id
        if not self._may_keep(spent_for.guild_id, member):
            member = NO_MEMBER
        row = UsageRow(
            day=self.today(),
            guild_id=spent_for.guild_id,
            channel_id=spent_for.channel_id,
            member_id=member,
            kind=kind,
            prompt=usage.prompt,
            completion=usage.completion,
            cached=usage.cached,
        )
        task = self._tasks.spawn(
            self._add(row), "token usage", guild=row.guild_id, channel=row.channel_id
        )
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _add(self, row: UsageRow) -> None:
        try:
            await self._store.add_usage(row)
        except StoreOutageError as error:
            log.warning("token usage of a %s call not stored: %s", row.kind, error)

    async def wait_idle(self) -> None:
        """Return once every row recorded so far is written (or failed)."""
        while self._writing:
            await asyncio.gather(*self._writing, return_exceptions=True)

    async def since(self, guild_id: int, day: date) -> list[UsageRow]:
        """The guild's rows of `day` and later."""
        return await self._store.usage_for(guild_id, day)

    async def forget(self, guild_id: int, member_id: int) -> int:
        """Remove the member's rows in the guild, those being written included."""
        await self.wait_idle()
        return await self._store.forget_member_usage(guild_id, member_id)

    async def expire(self, cutoff: datetime) -> int:
        """Remove the rows of the days that ended before `cutoff`."""
        return await self._store.delete_usage_before(cutoff.astimezone(UTC).date())
