"""Failure injection: answer the next matching REST requests with a chosen error, or hold
them until the test lets them through."""

from __future__ import annotations

import asyncio
import hashlib
import math
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
        self._global: Failure | None = None
        self._holds: list[Hold] = []

    def clear(self) -> None:
        self._failures.clear()
        self._global = None
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
        self,
        method: str,
        path_prefix: str,
        *,
        retry_after: float = 0.05,
        times: int = 1,
        limit: int = 5,
        scope: str = "user",
    ) -> None:
        """A 429 of the route's own bucket, as Discord sends it: discord.py retries it after
        ``retry_after`` (it needs the ``Via`` header and the JSON ``retry_after``).

        https://discord.com/developers/docs/topics/rate-limits#header-format and
        #exceeding-a-rate-limit: the rate-limit headers name the route's bucket; the body has
        ``message``, ``retry_after`` (seconds, a float) and ``global``.
        """
        # One bucket per route: the same route always reports the same opaque hash.
        bucket = hashlib.sha1(f"{method.upper()} {path_prefix}".encode()).hexdigest()[:32]
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
                "Retry-After": str(math.ceil(retry_after)),
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": bucket,
                "X-RateLimit-Scope": scope,
            },
            times=times,
        )

    def fail_next_globally_rate_limited(self, *, retry_after: float = 0.05, times: int = 1) -> None:
        """The bot's global limit (50 requests a second): the next ``times`` requests to any
        route but the interaction endpoints get a global 429.

        https://discord.com/developers/docs/topics/rate-limits#global-rate-limit: the answer
        has ``X-RateLimit-Global: true`` and ``"global": true``; "interaction endpoints are not
        bound to the bot's Global Rate Limit".
        """
        self._global = Failure(
            "*",
            "",
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": True},
            {
                "Via": "1.1 google",
                "Retry-After": str(math.ceil(retry_after)),
                "X-RateLimit-Global": "true",
                "X-RateLimit-Scope": "global",
            },
            times,
        )

    def take(self, method: str, api_path: str) -> web.Response | None:
        """The injected answer for this request, if one is queued (using it up)."""
        exempt = api_path.startswith(("/interactions/", "/webhooks/"))
        if self._global is not None and not exempt:
            failure = self._global
            failure.times -= 1
            if failure.times <= 0:
                self._global = None
            return json_response(failure.body, failure.status, failure.headers)
        for failure in self._failures:
            if failure.method == method and api_path.startswith(failure.path_prefix):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return json_response(failure.body, failure.status, failure.headers)
        return None
