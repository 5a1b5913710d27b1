"""A yt-dlp worker process: the only module that touches yt-dlp.

`services/voice/yt_dlp_pool.py` starts it as `python -m services.voice.yt_dlp_worker CONFIG` (a
`WorkerConfig` in JSON) and kills it when a resolution outlasts its limit. It loads yt-dlp's
extractors once, then answers one request a line for as long as it lives:

    stdin:  {"target": "https://..." or "ytsearch1:..."}
    stdout: {"track": {...}} | {"refused": reason, "detail": "..."} | {"error": traceback}

The first line it writes, `{"ready": true}`, says the extractors are loaded. Each line also
carries "log": what yt-dlp said meanwhile, as (level, text) pairs for the bot's log; the
worker configures no logging of its own. Anything else written to stdout goes to stderr,
which the bot logs as warnings. The worker ignores Ctrl-C (the bot decides when it ends) and
exits when its stdin closes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import traceback
from typing import Any, TextIO

import yt_dlp
from deno import find_deno_bin

from services.voice.music_source import judge
from services.voice.music_types import MusicRefused, MusicRequest, RefusalReason, ResolvedTrack
from services.voice.yt_dlp_pool import WorkerConfig, track_fields

# Every site extractor except the generic one, which would fetch any URL it is given.
SAFE_EXTRACTORS = ("default", "-generic")
# Tests only: the loopback media server is read through the generic extractor.
WITH_GENERIC_EXTRACTOR = ("default",)
# One answer's share of yt-dlp's chatter: enough to see what happened, never a flood.
MAX_LOG_LINES = 50
MAX_LOG_CHARS = 2_000


class _Chatter:
    """yt-dlp's messages, kept for the next answer: debug and info at DEBUG, its warnings and
    errors at INFO (the member hears of a failure; the log need not shout)."""

    problems = logging.INFO

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def _keep(self, level: int, message: str) -> None:
        if len(self.lines) < MAX_LOG_LINES:
            self.lines.append((level, message[:MAX_LOG_CHARS]))

    def debug(self, message: str) -> None:
        self._keep(logging.DEBUG, message)

    def info(self, message: str) -> None:
        self._keep(logging.DEBUG, message)

    def warning(self, message: str) -> None:
        self._keep(self.problems, message)

    def error(self, message: str) -> None:
        self._keep(self.problems, message)

    def take(self) -> list[tuple[int, str]]:
        lines, self.lines = self.lines, []
        return lines


class _WarmUpChatter(_Chatter):
    """The warm-up's "Unsupported URL" is the expected outcome, not a problem."""

    problems = logging.DEBUG


def options(config: WorkerConfig, logger: _Chatter) -> dict[str, Any]:
    return {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": logger,
        "skip_download": True,
        "format": "bestaudio/best",
        "allowed_extractors": list(
            WITH_GENERIC_EXTRACTOR if config.allow_generic_extractor else SAFE_EXTRACTORS
        ),
        # One item per request: a playlist link or a page of many <audio> tags gives its
        # first entry only, and yt-dlp does not even extract the others.
        "noplaylist": True,
        "playlist_items": "1",
        "socket_timeout": config.socket_timeout,
        "cachedir": False,
        "js_runtimes": {"deno": {"path": find_deno_bin()}},
    }


def warm_up(config: WorkerConfig, logger: _Chatter) -> None:
    """Pay yt-dlp's first-extraction cost (~0.4 s: loading the extractors and compiling
    their URL patterns) before the first request. Touches no network: no extractor but the
    generic one, left out here, accepts the reserved .invalid domain."""
    warm = {**options(config, logger), "allowed_extractors": list(SAFE_EXTRACTORS)}
    with yt_dlp.YoutubeDL(warm) as ydl, contextlib.suppress(yt_dlp.utils.DownloadError):
        ydl.extract_info("https://warm-up.invalid/", download=False)


def resolve(config: WorkerConfig, logger: _Chatter, request: MusicRequest) -> ResolvedTrack:
    """The one item `request` names, checked by `judge`; `MusicRefused` otherwise."""
    try:
        with yt_dlp.YoutubeDL(options(config, logger)) as ydl:
            info = ydl.extract_info(request.target, download=False)
    except yt_dlp.utils.DownloadError as error:
        reason: RefusalReason = "timeout" if "timed out" in str(error) else "unplayable"
        raise MusicRefused(reason, str(error)) from error
    if info is None:
        raise MusicRefused("no_result")
    if info.get("_type") == "playlist" or "entries" in info:
        entries = [entry for entry in info.get("entries") or [] if entry]
        if not entries:
            raise MusicRefused("no_result")
        info = entries[0]
    return judge(
        info,
        allowed_hosts=config.allowed_hosts,
        max_seconds=config.max_seconds,
        allow_private_network=config.allow_private_network,
    )


def answer_for(config: WorkerConfig, logger: _Chatter, target: str) -> dict[str, Any]:
    try:
        track = resolve(config, logger, MusicRequest(target))
    except MusicRefused as refused:
        return {"refused": refused.reason, "detail": refused.detail}
    except Exception:  # a bug, or yt-dlp failing in a way it does not wrap: the bot logs it
        return {"error": traceback.format_exc()}
    return {"track": track_fields(track)}


def serve(config: WorkerConfig, requests: TextIO, answers: TextIO) -> None:
    def send(answer: dict[str, Any], logger: _Chatter) -> None:
        answers.write(json.dumps({**answer, "log": logger.take()}) + "\n")
        answers.flush()

    warming = _WarmUpChatter()
    warm_up(config, warming)
    send({"ready": True}, warming)
    logger = _Chatter()
    while line := requests.readline():
        send(answer_for(config, logger, json.loads(line)["target"]), logger)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The answers keep the real stdout; a stray print from a library lands on stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(WorkerConfig.from_json(argv[1]), sys.stdin, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
