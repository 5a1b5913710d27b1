# The waiting helper takes a `timeout` argument on purpose: it is the fixtures' public API.
# ruff: noqa: ASYNC109
"""Waiting on the fake's state without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Notifier:
    """Wake every waiter on each state change (no fixed sleeps anywhere)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._event
                    if predicate():
                        return
                    await event.wait()
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}") from None
