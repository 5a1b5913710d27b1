"""Liveness without calling out: a heartbeat file, fresh while the gateway session is up.

The bot marks the file connected when its sessions start or resume, refreshes it every
`HEARTBEAT_SECONDS` while they stay up, and marks it disconnected the moment one drops: a
process that runs several shards is healthy only while every one of them is connected (one
shard down is its guilds unanswered), and the file names the shards that are down. Reading
it (`read_health`, what Docker's HEALTHCHECK runs through `python -m app.health`) needs no
network: a Discord, Azure or database outage never turns into a restart storm. A loop that
is stuck stops refreshing the file, so it goes stale.

`Watchdog` is a thread (it must work when the event loop does not) that calls `on_stale`
once the heartbeat has not been refreshed for `WATCHDOG_MINUTES`, then, if the process is
still alive after a grace period, ends it: with `restart: unless-stopped`, Docker (or
systemd) starts a fresh one. Disconnected for ten minutes, one restart every ten minutes at
most: a few IDENTIFYs an hour, far from Discord's daily limit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "heartbeat"
FRESH_BEATS = 3  # a beat stays fresh for this many intervals: one late write is no alarm


class Heartbeat:
    """The heartbeat file of one bot process, and the time of its last connected beat.

    Connected while every shard the process runs (`expect`; shard 0 unless told) has a
    session up."""

    def __init__(self, path: Path, *, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._expected: frozenset[int] = frozenset({0})
        self._up: set[int] = set()
        self._down_since: float | None = None  # wall time the first missing shard dropped
        self._stopped_because: str | None = None  # why the bot stopped on its own, if it did
        # Starting counts as a beat: the watchdog gives a new process its whole delay.
        self._last_beat = time.monotonic()
        self._store_problem: str | None = None  # why the store cannot write, while it cannot

    @property
    def connected(self) -> bool:
        return self._expected <= self._up

    @property
    def last_beat(self) -> float:
        """`time.monotonic()` of the last beat while connected (or of the start)."""
        return self._last_beat

    def expect(self, shard_ids: Iterable[int]) -> None:
        """The shards this process runs: each must be up for the process to be healthy."""
        self._expected = frozenset(shard_ids) or frozenset({0})

    def up(self, shard_id: int = 0) -> None:
        """A shard's gateway session started or resumed."""
        self._up.add(shard_id)
        if self.connected:
            self._down_since = None
            self.beat()

    def down(self, shard_id: int = 0) -> bool:
        """A shard's gateway session dropped: unhealthy at once, until it is back. True when
        the shard was up (discord.py reports each failed attempt to reconnect too)."""
        was_up = shard_id in self._up
        self._up.discard(shard_id)
        self._mark_down()
        return was_up

    def stop(self, *, because: str | None = None) -> None:
        """The bot is shutting down: not healthy any more; `because`, the line that says why
        it could not go on, is kept in the file."""
        self._stopped_because = because or self._stopped_because
        self._up.clear()
        self._mark_down()

    def store_problem(self, problem: str | None) -> None:
        """The store cannot write (`problem` says why), or can again (None): unhealthy while
        it cannot, with the reason in the file, since messages are neither stored nor answered.
        (Docker marks the container unhealthy; a restart would not mend a full disk.)"""
        self._store_problem = problem
        if self.connected:
            self.beat()
        else:
            self._mark_down()

    def _mark_down(self) -> None:
        if self._down_since is None:
            self._down_since = time.time()
        missing = sorted(self._expected - self._up)
        state: dict[str, object] = {"connected": False, "at": self._down_since, "down": missing}
        if self._stopped_because is not None:
            state["stopped"] = self._stopped_because
        self._write(state)

    def beat(self) -> None:
        """Refresh the file, if connected (called every `interval` seconds)."""
        if not self.connected:
            return
        self._last_beat = time.monotonic()
        self._write(
            {"connected": True, "at": time.time(), "fresh_for": self.interval * FRESH_BEATS}
        )

    def _write(self, state: dict[str, object]) -> None:
        if self._store_problem is not None:
            state["store_problem"] = self._store_problem
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".heartbeat.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle)
            os.replace(tmp, self.path)
        except OSError as error:
            # Health must never take the bot down; the file going stale says enough.
            log.warning("could not write the heartbeat file %s: %s", self.path, error)


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str


def read_health(path: Path, *, now: float | None = None) -> Health:
    """What the heartbeat file says, without calling anything."""
    now = time.time() if now is None else now
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        at = float(state["at"])
    except FileNotFoundError:
        return Health(False, f"no heartbeat at {path}: not connected yet")
    except (OSError, ValueError, KeyError, TypeError) as error:
        return Health(False, f"unreadable heartbeat at {path}: {error}")
    if state.get("store_problem"):
        return Health(False, f"the store cannot write: {state['store_problem']}")
    if not state.get("connected"):
        stopped = state.get("stopped")
        if isinstance(stopped, str) and stopped:
            return Health(False, f"stopped: {stopped}")
        down = state.get("down")
        if isinstance(down, list) and down and down != [0]:
            shards = ", ".join(str(shard) for shard in down)
            return Health(
                False, f"shard(s) {shards} disconnected from Discord for {now - at:.0f} s"
            )
        return Health(False, f"disconnected from Discord for {now - at:.0f} s")
    fresh_for = float(state.get("fresh_for") or 0)
    if now - at > fresh_for:
        return Health(False, f"stale heartbeat: last beat {now - at:.0f} s ago (stuck?)")
    return Health(True, f"connected, last beat {now - at:.0f} s ago")


class Watchdog:
    """Calls `on_stale` (from its thread) when the heartbeat is older than `limit` seconds,
    then `hard_exit` if the process is still there `grace` seconds later."""

    def __init__(
        self,
        heartbeat: Heartbeat,
        *,
        limit: float,
        on_stale: Callable[[], object],
        grace: float = 30.0,
        check_every: float = 5.0,
        hard_exit: Callable[[], None] = lambda: os._exit(1),
    ) -> None:
        self._heartbeat = heartbeat
        self._limit = limit
        self._on_stale = on_stale
        self._grace = grace
        self._check_every = check_every
        self._hard_exit = hard_exit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self.tripped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self._check_every):
            silent = time.monotonic() - self._heartbeat.last_beat
            if silent > self._limit:
                break
        else:
            return
        self.tripped = True
        log.critical(
            "no heartbeat for %.0f s (disconnected or stuck): stopping so that the bot is "
            "restarted",
            silent,
        )
        with contextlib.suppress(Exception):
            self._on_stale()
        if not self._stop.wait(self._grace):
            log.critical("the bot did not stop within %.0f s: exiting now", self._grace)
            self._hard_exit()
