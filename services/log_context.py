"""The guild and channel a piece of work is about, for log lines that do not name them.

Context variables follow the asyncio task: `BackgroundTasks.spawn` and the command tree set
them, and every log line written inside that task then carries them (in `LOG_FORMAT=json`,
as `guild_id` and `channel_id`).
"""

from __future__ import annotations

from contextvars import ContextVar

guild_id: ContextVar[int | None] = ContextVar("guild_id", default=None)
channel_id: ContextVar[int | None] = ContextVar("channel_id", default=None)


def bind(*, guild: int | None = None, channel: int | None = None) -> None:
    """Name the guild and channel of the current task (and of the tasks it starts)."""
    if guild is not None:
        guild_id.set(guild)
    if channel is not None:
        channel_id.set(channel)
