"""Discord ids (snowflakes) begin with their creation time: what the bot learns from that."""

from __future__ import annotations

from datetime import datetime

# Discord ids begin with their creation time, in milliseconds since this epoch.
DISCORD_EPOCH_MS = 1_420_070_400_000


def first_id_at(moment: datetime) -> int:
    """The smallest Discord id a message created at `moment` can have."""
    return max(0, int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22
