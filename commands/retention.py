"""Retention: messages older than RETENTION_DAYS are deleted at start and then daily."""

from __future__ import annotations

import logging

from discord.ext import commands, tasks

from services.privacy import PrivacyService

log = logging.getLogger(__name__)


class RetentionCog(commands.Cog):
    def __init__(self, privacy: PrivacyService) -> None:
        self._privacy = privacy

    async def cog_load(self) -> None:
        self.purge.start()  # the first run happens at once, at start

    async def cog_unload(self) -> None:
        self.purge.cancel()

    @tasks.loop(hours=24)
    async def purge(self) -> None:
        try:
            await self._privacy.purge_expired()
        except Exception:
            # Tomorrow's run tries again; the bot must keep running meanwhile.
            log.exception("retention purge failed")
