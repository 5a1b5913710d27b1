"""The retention job: RETENTION_DAYS enforced once a day across every process on the store.

Every process runs the job at start and then daily, but only the one that takes the
`retention` lease purges; the lease lasts a little less than a day and is never released
early, so its expiry is the period. A process that dies leaves the job to the others' next
tick. (Purging is idempotent, so a lost race would only cost time, never data.)
"""

from __future__ import annotations

import logging

from services.privacy.privacy import PrivacyService, RetentionReport
from services.store import LeaseStore

log = logging.getLogger(__name__)

LEASE = "retention"
PERIOD_SECONDS = 23 * 3600  # under a day: the daily tick of whoever purged finds it free


class RetentionJob:
    def __init__(
        self,
        privacy: PrivacyService,
        leases: LeaseStore,
        *,
        owner: str,
        period_seconds: float = PERIOD_SECONDS,
    ) -> None:
        self._privacy = privacy
        self._leases = leases
        self._owner = owner
        self._period = period_seconds

    async def run_if_due(self) -> RetentionReport | None:
        """Purge, unless another process did within the period: None then."""
        if not await self._leases.try_acquire(LEASE, self._owner, self._period):
            log.info("retention: another process purged within the day; skipped")
            return None
        return await self._privacy.purge_expired()
