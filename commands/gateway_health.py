"""The gateway sessions' health: the heartbeat file and the reconnect count follow them, shard
by shard."""

from __future__ import annotations

import logging

from discord.ext import commands, tasks

from services.health import Heartbeat
from services.telemetry import Telemetry

log = logging.getLogger(__name__)


class GatewayHealthCog(commands.Cog):
    """A shard up on READY or RESUMED, down on a disconnection; the heartbeat refreshed every
    interval while every shard is up."""

    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        heartbeat: Heartbeat,
        telemetry: Telemetry,
    ) -> None:
        self._bot = bot
        self._heartbeat = heartbeat
        self._telemetry = telemetry
        self._dropped: set[int] = set()  # shards whose session dropped: a return is a reconnect

    async def cog_load(self) -> None:
        self._telemetry.watch_gateway(self.latencies)
        self.refresh.change_interval(seconds=self._heartbeat.interval)
        self.refresh.start()

    async def cog_unload(self) -> None:
        self.refresh.cancel()
        self._heartbeat.stop()

    def latencies(self) -> list[tuple[int, float]]:
        if isinstance(self._bot, commands.AutoShardedBot):
            return self._bot.latencies  # each shard this process runs
        return [(self._bot.shard_id or 0, self._bot.latency)]

    # An AutoShardedBot says which shard (the plain events come too, and are left to a Bot).
    @commands.Cog.listener()
    async def on_shard_connect(self, shard_id: int) -> None:
        self._session_up(shard_id)

    @commands.Cog.listener()
    async def on_shard_resumed(self, shard_id: int) -> None:
        self._session_up(shard_id)

    @commands.Cog.listener()
    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._session_down(shard_id)

    @commands.Cog.listener()
    async def on_connect(self) -> None:
        if not self._sharded:
            self._session_up(self._bot.shard_id or 0)

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        if not self._sharded:
            self._session_up(self._bot.shard_id or 0)

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        if not self._sharded:
            self._session_down(self._bot.shard_id or 0)

    @property
    def _sharded(self) -> bool:
        return isinstance(self._bot, commands.AutoShardedBot)

    def _session_down(self, shard_id: int) -> None:
        if self._heartbeat.down(shard_id):  # not for each failed attempt to come back
            log.info("gateway session of shard %d dropped: unhealthy until it is back", shard_id)
            self._dropped.add(shard_id)

    def _session_up(self, shard_id: int) -> None:
        if isinstance(self._bot, commands.AutoShardedBot) and self._bot.shard_ids:
            self._heartbeat.expect(self._bot.shard_ids)
        if shard_id in self._dropped:
            self._dropped.discard(shard_id)
            self._telemetry.gateway_reconnect()
            log.info("gateway session of shard %d back", shard_id)
        self._heartbeat.up(shard_id)

    @tasks.loop(seconds=15)
    async def refresh(self) -> None:
        self._heartbeat.beat()
