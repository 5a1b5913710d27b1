"""Daily token budgets: whether a server, or one member in it, may still cost an Azure call today.

A server's cap is what it chose with `/setup budget`, else the operator's
DAILY_TOKENS_PER_SERVER (unset: no cap); a member's cap is the server's choice only. A cap is
checked before a call and counts what was spent before it, so the call that crosses the cap is
the last one of the day. Once a cap is reached the bot rests until the next UTC day: passive
replies stop, and a member who mentions it is told so once a day (`first_notice`).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from services.servers.settings import ServerSettings
from services.servers.token_usage import TokenAccounting

Reached = Literal["server", "member"]


class DailyBudgets:
    def __init__(self, settings: ServerSettings, usage: TokenAccounting) -> None:
        self._settings = settings
        self._usage = usage
        # (guild, member) told today that the bot is resting; cleared when the day changes.
        self._told: set[tuple[int, int]] = set()
        self._told_on: date | None = None

    async def reached(self, guild_id: int, member_id: int) -> Reached | None:
        """Which cap today's spending has reached, if any."""
        budget = self._settings.budget(guild_id)
        if budget.server is None and budget.member is None:
            return None  # nothing to read
        spent = await self._usage.spent_today(guild_id)
        if budget.server is not None and spent.total >= budget.server:
            return "server"
        if budget.member is not None and spent.by_member.get(member_id, 0) >= budget.member:
            return "member"
        return None

    def first_notice(self, guild_id: int, member_id: int) -> bool:
        """True the first time today a member is to be told the bot is resting."""
        today = self._usage.today()
        if self._told_on != today:
            self._told, self._told_on = set(), today
        if (guild_id, member_id) in self._told:
            return False
        self._told.add((guild_id, member_id))
        return True
