"""Failure injection: answer the next matching REST requests with a chosen error, or hold
them until the test lets them through."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.discord.protocol import JSON, json_response


@dataclass
class Failure:
    method: str
    path_prefix: str
    status: int
    body: JSON
    headers: dict[str, str]
    times: int


@dataclass
class Hold:
    """Matching requests wait until :meth:`release` (a slow Discord, on the test's cue)."""

    method: str
    path_prefix: str
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # one is waiting
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()

    async def wait_arrived(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            await self.arrived.wait()


class Faults:
    def __init__(self) -> None:
        self._failures: list[Failure] = []
        self._holds: list[Hold] = []

    def clear(self) -> None:
        self._failures.clear()
        for hold in self._holds:
            hold.release()
        self._holds.clear()

    def hold(self, method: str, path_prefix: str) -> Hold:
        """Hold the requests matching method and path prefix until the hold is released."""
        hold = Hold(method.upper(), path_prefix)
        self._holds.append(hold)
        return hold

    async def wait_if_held(self, method: str, api_path: str) -> None:
        for hold in list(self._holds):
            if hold.method == method and api_path.startswith(hold.path_prefix):
                hold.arrived.set()
                await hold.released.wait()
                if hold in self._holds:
                    self._holds.remove(hold)

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int,
        body: JSON,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching method and path prefix (after /api/v10)."""
        self._failures.append(
            Failure(method.upper(), path_prefix, status, body, dict(headers or {}), times)
        )

    def fail_next_rate_limited(
        self, method: str, path_prefix: str, *, retry_after: float = 0.05, times: int = 1
    ) -> None:
        """A realistic per-route 429 that discord.py retries (it needs the ``Via`` header)."""
        self.fail_next(
            method,
            path_prefix,
            status=429,
            body={
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": False,
            },
            headers={
                "Via": "1.1 google",
                "Retry-After": str(max(1, int(retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": "fakebucket",
                "X-RateLimit-Scope": "user",
            },
            times=times,
        )

    def take(self, method: str, api_path: str) -> web.Response | None:
        """The injected answer for this request, if one is queued (using it up)."""
        for failure in self._failures:
            if failure.method == method and api_path.startswith(failure.path_prefix):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return json_response(failure.body, failure.status, failure.headers)
        return None
