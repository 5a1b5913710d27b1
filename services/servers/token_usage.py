"""Token accounting: what every Azure call cost, against the server, channel and member it was
for, per UTC day, in the store (`UsageStore`): what budgets and `/setup show` read.

The write happens after the call, off the caller's path: `record` returns at once and the row
is added by a background task, so a reply is never held up by a store write. A write that
fails (the store is out) loses that call's count and logs one line; the reply goes on.

Budgets read today's spending from memory: each server's total and its members', read from
the store the first time a UTC day asks for them on this process (again when the server moves
here), and kept up to date by `record` from then on. Only the process that owns a server's shard
calls Azure for it, so that tally is the server's; calls still being written when it is first
read may be missed, at most a few calls' worth.

Usage rows are data about a member (ids and counts, never text): `forget` removes them, after
the writes already under way, and a call recorded for a member who opted out meanwhile is
counted for the server only (member 0). They expire with RETENTION_DAYS.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from services.background import BackgroundTasks
from services.llm import TokenUsage
from services.store import StoreOutageError, UsageRow, UsageStore

log = logging.getLogger(__name__)

NO_CHANNEL = 0  # a call for the member, not for a channel: a persona build
NO_MEMBER = 0  # a call for the server only (its member opted out meanwhile)


@dataclass
class DayTally:
    """Tokens (prompt and completion) one server spent on one UTC day."""

    day: date
    total: int = 0
    by_member: dict[int, int] = field(default_factory=dict)

    def add(self, member_id: int, tokens: int) -> None:
        self.total += tokens
        if member_id != NO_MEMBER:
            self.by_member[member_id] = self.by_member.get(member_id, 0) + tokens


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
        self._tallies: dict[int, DayTally] = {}

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
        tally = self._tallies.get(row.guild_id)
        if tally is not None and tally.day == row.day:
            tally.add(spent_for.member_id, usage.prompt + usage.completion)
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

    async def spent_today(self, guild_id: int) -> DayTally:
        """The server's tokens of today, from memory after the day's first read."""
        today = self.today()
        tally = self._tallies.get(guild_id)
        if tally is None or tally.day != today:
            await self.wait_idle()
            rows = await self._store.usage_for(guild_id, today)
            tally = DayTally(today)
            for row in rows:
                if row.day == today:
                    tally.add(row.member_id, row.prompt + row.completion)
            self._tallies[guild_id] = tally
        return tally

    def reread(self, guild_id: int) -> None:
        """The server came (back) to this process: its tally is read from the store again."""
        self._tallies.pop(guild_id, None)

    async def summary(self, guild_id: int) -> UsageSummary:
        """Today's and this month's use, for /setup show."""
        await self.wait_idle()
        today = self.today()
        return summarize(await self._store.usage_for(guild_id, today.replace(day=1)), today)

    async def since(self, guild_id: int, day: date) -> list[UsageRow]:
        """The guild's rows of `day` and later."""
        return await self._store.usage_for(guild_id, day)

    async def forget(self, guild_id: int, member_id: int) -> int:
        """Remove the member's rows in the guild, those being written included."""
        await self.wait_idle()
        forgotten = await self._store.forget_member_usage(guild_id, member_id)
        self.reread(guild_id)
        return forgotten

    async def expire(self, cutoff: datetime) -> int:
        """Remove the rows of the days that ended before `cutoff`."""
        return await self._store.delete_usage_before(cutoff.astimezone(UTC).date())


@dataclass(frozen=True)
class PeriodUse:
    """Tokens (prompt and completion) one server spent over a period: in all, per channel
    (NO_CHANNEL: style profiles), and its members who spent the most, by count only."""

    total: int
    by_channel: list[tuple[int, int]]  # (channel, tokens), most first
    top_members: list[tuple[int, int]]  # (member, tokens), most first


@dataclass(frozen=True)
class UsageSummary:
    today: PeriodUse
    month: PeriodUse


TOP_MEMBERS = 5


def _period(rows: list[UsageRow]) -> PeriodUse:
    by_channel: dict[int, int] = {}
    by_member: dict[int, int] = {}
    for row in rows:
        tokens = row.prompt + row.completion
        by_channel[row.channel_id] = by_channel.get(row.channel_id, 0) + tokens
        if row.member_id != NO_MEMBER:
            by_member[row.member_id] = by_member.get(row.member_id, 0) + tokens

    def most_first(counts: dict[int, int]) -> list[tuple[int, int]]:
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    return PeriodUse(
        total=sum(by_channel.values()),
        by_channel=most_first(by_channel),
        top_members=most_first(by_member)[:TOP_MEMBERS],
    )


def summarize(rows: list[UsageRow], today: date) -> UsageSummary:
    """Today's use and this month's (as far as retention keeps it) from a server's rows."""
    month = [r for r in rows if (r.day.year, r.day.month) == (today.year, today.month)]
    return UsageSummary(today=_period([r for r in month if r.day == today]), month=_period(month))
