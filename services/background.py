"""One way to run work in the background: a failure is logged with what it was doing.

A bare `asyncio.create_task` loses its exception until the task is garbage-collected
("Task exception was never retrieved", with no guild or channel in it). Every background
task of the bot goes through `BackgroundTasks.spawn` instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from services import log_context

T = TypeVar("T")

log = logging.getLogger(__name__)


def describe(what: str, **context: int | str | None) -> str:
    """`what` with its context, for a log line: "reply (guild 1, channel 2)"."""
    known = ", ".join(f"{name} {value}" for name, value in context.items() if value is not None)
    return f"{what} ({known})" if known else what


def _bound(context: dict[str, int | str | None]) -> contextvars.Context:
    """A copy of the current context where the task's guild and channel are known to logs."""
    copied = contextvars.copy_context()
    guild, channel = context.get("guild"), context.get("channel")
    copied.run(
        log_context.bind,
        guild=guild if isinstance(guild, int) else None,
        channel=channel if isinstance(channel, int) else None,
    )
    return copied


class BackgroundTasks:
    """Tasks that outlive the call that started them; each failure logged once, with context.

    Holds a strong reference to every running task (the loop keeps only a weak one) and
    cancels them on `close`.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self, work: Coroutine[Any, Any, T], what: str, **context: int | str | None
    ) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(
            work, name=describe(what, **context), context=_bound(context)
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("background task failed: %s", task.get_name(), exc_info=error)

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Return once every task spawned so far (and any they spawned) has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.wait_idle()
