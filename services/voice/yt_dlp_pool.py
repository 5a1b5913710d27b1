"""yt-dlp's own processes: at most a few resolutions at once, none outliving its limit.

yt-dlp blocks, and a thread cannot be stopped: a resolution stuck on a page that never ends
would keep its thread for good, and in the loop's default executor it would starve the
store's writes too. So yt-dlp runs in worker processes of its own
(`python -m services.voice.yt_dlp_worker`), spoken to through pipes by the event loop, with no
thread of ours:

- at most `workers` resolutions run at once (an `asyncio.Semaphore`); the others wait in the
  loop, each for at most `timeout`, then are refused as `busy`;
- a resolution that takes longer than `timeout` is refused as `timeout`, and its worker is
  killed, so its place is free again at once;
- a worker loads yt-dlp's extractors once when it starts (~0.4 s) and serves request after
  request; a killed one is replaced when next needed. `close` kills them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.voice.music_types import MusicRefused, ResolvedTrack

log = logging.getLogger(__name__)

WORKER_MODULE = "services.voice.yt_dlp_worker"
# A worker imports yt-dlp and loads its extractors before it is ready: about a second on a
# quiet machine. A worker that is not ready in this time is broken, not slow.
START_SECONDS = 30.0
# One answer is one line of JSON: a track (its stream URL and headers) and yt-dlp's chatter.
ANSWER_LIMIT = 1 << 20
# The directory that holds `services`: the worker runs the same code as the bot.
_CODE_ROOT = str(Path(__file__).resolve().parents[1])


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker needs to resolve and judge a request, given on its command line."""

    allowed_hosts: tuple[str, ...]
    max_seconds: int
    allow_private_network: bool
    allow_generic_extractor: bool
    socket_timeout: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        fields = json.loads(text)
        return cls(**{**fields, "allowed_hosts": tuple(fields["allowed_hosts"])})


class WorkerFailed(Exception):
    """A worker that ended, or did not start, instead of answering."""


class _Worker:
    """One `python -m services.voice.yt_dlp_worker` process: one request at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid = process.pid
        self._stderr = asyncio.create_task(self._log_stderr(), name=f"yt-dlp worker {self.pid}")

    @classmethod
    async def start(cls, config: WorkerConfig) -> _Worker:
        python_path = [_CODE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                config.to_json(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(python_path)},
                limit=ANSWER_LIMIT,
            )
        except OSError as error:
            raise WorkerFailed(f"cannot start a worker: {error}") from error
        return cls(process)

    async def ready(self) -> None:
        """Wait for the worker's first line: yt-dlp is loaded."""
        await self._answer()

    async def ask(self, target: str) -> dict[str, Any]:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps({"target": target}).encode() + b"\n")
            await self._process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as error:
            raise WorkerFailed(f"worker {self.pid} is gone: {error!r}") from error
        return await self._answer()

    async def _answer(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        try:
            line = await self._process.stdout.readline()
            if not line:
                code = await self._process.wait()
                raise WorkerFailed(f"worker {self.pid} ended (exit code {code})")
            answer: dict[str, Any] = json.loads(line)
        except ValueError as error:  # longer than ANSWER_LIMIT, or not JSON
            raise WorkerFailed(f"worker {self.pid} answered {error}") from error
        for level, message in answer.pop("log", []):
            log.log(level, "yt-dlp: %s", message)
        return answer

    async def stop(self) -> None:
        """Kill the worker (it may be stuck in yt-dlp) and wait until it is gone."""
        if self._process.returncode is None:
            self._process.kill()
        await self._process.wait()
        await self._stderr

    async def _log_stderr(self) -> None:
        """What the worker writes besides its answers (a traceback, a stray print)."""
        assert self._process.stderr is not None
        async for line in self._process.stderr:
            text = line.decode(errors="replace").rstrip()
            if text:
                log.warning("yt-dlp worker %s: %s", self.pid, text)


class YtDlpPool:
    """The resolver's yt-dlp workers: `workers` processes at most, started when needed."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        timeout: float,
        workers: int = 2,
        start_timeout: float = START_SECONDS,
    ) -> None:
        self._config = config
        self._timeout = timeout  # for one resolution, and for a place in the queue
        self._start_timeout = start_timeout
        self._slots = asyncio.Semaphore(workers)
        self._idle: list[_Worker] = []
        self._running: set[_Worker] = set()  # idle or busy
        self._closed = asyncio.Event()

    def pids(self) -> set[int]:
        """The process ids of the running workers."""
        return {worker.pid for worker in self._running}

    async def warm_up(self) -> None:
        """Start one worker ahead of the first `/play`, so it pays for loading yt-dlp.
        A failure is logged; the first resolution tries again."""
        async with self._slots:
            if self._idle:
                return
            try:
                self._idle.append(await self._start())
            except (WorkerFailed, MusicRefused) as error:
                log.warning("yt-dlp warm-up failed: %s", error)

    async def resolve(self, target: str) -> ResolvedTrack:
        """The one item `target` names, found and judged by a worker; `MusicRefused` for what
        will not be played, or when no worker was free in time (`busy`)."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise MusicRefused("busy", f"no yt-dlp worker free in {self._timeout} s") from None
        try:
            worker = self._idle.pop() if self._idle else await self._start()
            answer = await self._ask(worker, target)
        except WorkerFailed as failed:
            log.warning("yt-dlp: %s, while resolving %r", failed, target)
            raise MusicRefused("unplayable", str(failed)) from failed
        finally:
            self._slots.release()
        if "track" in answer:
            return ResolvedTrack(**answer["track"])
        if "refused" in answer:
            raise MusicRefused(answer["refused"], answer.get("detail", ""))
        log.error("yt-dlp worker failed on %r:\n%s", target, answer.get("error", answer))
        raise MusicRefused("unplayable", "yt-dlp worker error")

    async def close(self) -> None:
        """Kill every worker; the pool starts no other."""
        self._closed.set()
        self._idle.clear()
        workers = list(self._running)
        self._running.clear()
        await asyncio.gather(*(worker.stop() for worker in workers))

    async def _ask(self, worker: _Worker, target: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._timeout):
                answer = await worker.ask(target)
        except TimeoutError:
            log.info(
                "yt-dlp: no answer for %r in %s s: worker %s stopped",
                target,
                self._timeout,
                worker.pid,
            )
            await self._stop(worker)
            raise MusicRefused("timeout", f"yt-dlp: no answer in {self._timeout} s") from None
        except BaseException:  # ended, or cancelled: its answer would reach the next request
            await self._stop(worker)
            raise
        if self._closed.is_set():
            await self._stop(worker)
        else:
            self._idle.append(worker)
        return answer

    async def _start(self) -> _Worker:
        if self._closed.is_set():
            raise MusicRefused("busy", "the yt-dlp workers are closed")
        worker = await _Worker.start(self._config)
        self._running.add(worker)
        try:
            async with asyncio.timeout(self._start_timeout):
                await worker.ready()
        except TimeoutError:
            await self._stop(worker)
            raise WorkerFailed(
                f"worker {worker.pid} not ready in {self._start_timeout} s"
            ) from None
        except BaseException:
            await self._stop(worker)
            raise
        if self._closed.is_set():  # closed while it started: nothing else will stop it
            await self._stop(worker)
            raise MusicRefused("busy", "the yt-dlp workers are closed")
        log.debug("yt-dlp worker %s ready", worker.pid)
        return worker

    async def _stop(self, worker: _Worker) -> None:
        self._running.discard(worker)
        await worker.stop()


def track_fields(track: ResolvedTrack) -> dict[str, Any]:
    """A track as the worker sends it (JSON), for `ResolvedTrack(**fields)` on the other side."""
    return {**asdict(track), "http_headers": dict(track.http_headers)}
