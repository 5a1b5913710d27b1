"""The gateway session's health: the heartbeat file and the reconnect count follow it."""

from __future__ import annotations

import logging

from discord.ext import commands, tasks

from services.health import Heartbeat
from services.telemetry import Telemetry

log = logging.getLogger(__name__)


class GatewayHealthCog(commands.Cog):
    """Up on READY or RESUMED, down on a disconnection, refreshed every interval while up."""

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
        self._dropped = False  # a session was up and dropped: its return is a reconnect

    async def cog_load(self) -> None:
        self._telemetry.watch_gateway(self.latencies)
        self.refresh.change_interval(seconds=self._heartbeat.interval)
        self.refresh.start()

    async def cog_unload(self) -> None:
        self.refresh.cancel()
        if self._heartbeat.connected:  # shutting down: not healthy any more
            self._heartbeat.down()

    def latencies(self) -> list[tuple[int, float]]:
        if isinstance(self._bot, commands.AutoShardedBot):
            return self._bot.latencies  # each shard this process runs
        return [(self._bot.shard_id or 0, self._bot.latency)]

    @commands.Cog.listener()
    async def on_connect(self) -> None:
        self._session_up()

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        self._session_up()

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        # discord.py says so after each failed attempt too; the first one is what counts.
        if self._heartbeat.connected:
            log.info("gateway session dropped: unhealthy until it is back")
            self._heartbeat.down()
            self._dropped = True

    def _session_up(self) -> None:
        if self._dropped:
            self._dropped = False
            self._telemetry.gateway_reconnect()
            log.info("gateway session back")
        self._heartbeat.up()

    @tasks.loop(seconds=15)
    async def refresh(self) -> None:
        self._heartbeat.beat()
