"""Retention: messages older than RETENTION_DAYS are deleted at start and then daily (by one
process of those sharing the store: `services/privacy/retention.py`)."""

from __future__ import annotations

import logging

from discord.ext import commands, tasks

from services.privacy.retention import RetentionJob

log = logging.getLogger(__name__)


class RetentionCog(commands.Cog):
    def __init__(self, job: RetentionJob) -> None:
        self._job = job

    async def cog_load(self) -> None:
        self.purge.start()  # the first run happens at once, at start

    async def cog_unload(self) -> None:
        self.purge.cancel()

    @tasks.loop(hours=24)
    async def purge(self) -> None:
        try:
            await self._job.run_if_due()
        except Exception:
            # Tomorrow's run tries again; the bot must keep running meanwhile.
            log.exception("retention purge failed")
