"""A server's data leaves with the bot: a removal (GUILD_DELETE without `unavailable`) schedules
its deletion after SERVER_DATA_GRACE_HOURS, a re-add cancels it, and after a start the servers
of which data is held but that Discord did not list (on this process's shards) are confirmed
over REST (404 or 403) and scheduled the same way. The rules are
`services/privacy/server_data.py`'s; this cog turns gateway events and REST answers into them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import discord
from discord.ext import commands

from services.background import BackgroundTasks
from services.privacy.server_data import ServerDepartures
from services.sharding import shard_of
from services.store import StoreOutageError

log = logging.getLogger(__name__)

SWEEP_SECONDS = 600.0  # the longest wait between two looks for due deletions
MIN_WAIT_SECONDS = 5.0  # the shortest, when one is due but was not ours to delete yet


class ServerDepartureCog(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        departures: ServerDepartures,
        tasks: BackgroundTasks,
    ) -> None:
        self._bot = bot
        self._departures = departures
        self._tasks = tasks
        self._wake = asyncio.Event()
        self._started = False

    def _owned(self, guild_id: int) -> bool:
        """Whether the guild is on a shard this process runs (its deletion is ours)."""
        count = self._bot.shard_count or 1
        shard_ids = getattr(self._bot, "shard_ids", None)
        owned = range(count) if shard_ids is None else shard_ids
        return shard_of(guild_id, count) in owned

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        # discord.py calls this for a removal only; an outage is on_guild_unavailable.
        await self._departures.schedule(guild.id, "the bot was removed from it")
        self._wake.set()

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self._departures.cancel(guild.id)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self._started:  # a later READY (a new session) finds the same data
            return
        self._started = True
        self._tasks.spawn(self._keep_deleting(), "server data deletions")

    async def _reconcile(self) -> None:
        """Servers held but not listed by Discord: confirmed gone over REST, then scheduled;
        servers scheduled but listed again: cancelled."""
        present = {guild.id for guild in self._bot.guilds}
        for departure in await self._departures.pending():
            if departure.guild_id in present:
                await self._departures.cancel(departure.guild_id)
        for guild_id in await self._departures.missing_guilds(present, self._owned):
            try:
                await self._bot.fetch_guild(guild_id)
            except (discord.NotFound, discord.Forbidden) as gone:
                await self._departures.schedule(
                    guild_id, f"missing at start, and Discord answers {gone.status} for it"
                )
            except discord.HTTPException as error:
                log.warning(
                    "server data: guild %s is missing, but Discord could not confirm it (%s); kept",
                    guild_id,
                    error.status,
                )
            else:
                log.info(
                    "server data: guild %s is missing from the gateway but exists; kept", guild_id
                )

    async def _delete_due(self) -> float:
        """Delete what is due; the seconds until the next of ours is due."""
        present = {guild.id for guild in self._bot.guilds}

        def ours(guild_id: int) -> bool:
            return self._owned(guild_id) and guild_id not in present

        for departure in await self._departures.pending():
            if departure.guild_id in present:  # added back while nobody was listening
                await self._departures.cancel(departure.guild_id)
        await self._departures.run_due(ours)
        now = datetime.now(UTC)
        waits = [
            (departure.due_at - now).total_seconds()
            for departure in await self._departures.pending()
            if ours(departure.guild_id)
        ]
        # One still due is another process's to delete (it holds the lease): look again later.
        return min(
            (wait if wait > 0 else MIN_WAIT_SECONDS for wait in waits), default=SWEEP_SECONDS
        )

    async def _keep_deleting(self) -> None:
        first = True
        while not self._bot.is_closed():
            self._wake.clear()
            wait = SWEEP_SECONDS
            try:
                if first:
                    await self._reconcile()
                    first = False
                wait = min(wait, await self._delete_due())
            except StoreOutageError as error:
                log.warning("server data: deletions wait for the store (%s)", error)
            except Exception:
                # The next round tries again; the bot must keep running meanwhile.
                log.exception("server data: deletions failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
