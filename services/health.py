"""Liveness without calling out: a heartbeat file, fresh while the gateway session is up.

The bot marks the file connected when its sessions start or resume, refreshes it every
`HEARTBEAT_SECONDS` while they stay up, and marks it disconnected the moment one drops: a
process that runs several shards is healthy only while every one of them is connected (one
shard down is its guilds unanswered), and the file names the shards that are down. Reading
it (`read_health`, what Docker's HEALTHCHECK runs through `python -m app.health`) needs no
network: a Discord, Azure or database outage never turns into a restart storm. A loop that
is stuck stops refreshing the file, so it goes stale.

`Watchdog` is a thread (it must work when the event loop does not) that acts shard by
shard, as `services.shard_watch` decides: a shard disconnected for `WATCHDOG_MINUTES` is
reconnected on its own (the other shards keep their sessions); when that did not bring it
back within the same time again, when every shard of the process has been down that long, or
when the event loop has not run that long (stuck), it calls `on_stale`, then, if the process
is still alive after a grace period, ends it: with `restart: unless-stopped`, Docker (or
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

from services.shard_watch import GatewayView, ShardWatch

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "heartbeat"
FRESH_BEATS = 3  # a beat stays fresh for this many intervals: one late write is no alarm


class Heartbeat:
    """The heartbeat file of one bot process, and the time of its last connected beat.

    Connected while every shard the process runs (`expect`; shard 0 unless told) has a
    session up."""

    def __init__(
        self, path: Path, *, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.interval = interval
        self._clock = clock
        self._expected: frozenset[int] = frozenset({0})
        self._up: set[int] = set()
        self._down_since: float | None = None  # wall time the first missing shard dropped
        # When each shard dropped (`clock`); a shard never up counts from the start.
        self._shard_down_at: dict[int, float] = {}
        self._lock = threading.Lock()  # the watchdog's thread reads the shards' state
        self._stopped_because: str | None = None  # why the bot stopped on its own, if it did
        # Starting counts as a beat: the watchdog gives a new process its whole delay.
        self._started = self._last_beat = self._loop_beat = clock()
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
        with self._lock:
            self._expected = frozenset(shard_ids) or frozenset({0})

    def up(self, shard_id: int = 0) -> None:
        """A shard's gateway session started or resumed."""
        with self._lock:
            self._up.add(shard_id)
            self._shard_down_at.pop(shard_id, None)
        if self.connected:
            self._down_since = None
            self.beat()

    def down(self, shard_id: int = 0) -> bool:
        """A shard's gateway session dropped: unhealthy at once, until it is back. True when
        the shard was up (discord.py reports each failed attempt to reconnect too)."""
        with self._lock:
            was_up = shard_id in self._up
            self._up.discard(shard_id)
            if was_up:
                self._shard_down_at[shard_id] = self._clock()
        self._mark_down()
        return was_up

    def stop(self, *, because: str | None = None) -> None:
        """The bot is shutting down: not healthy any more; `because`, the line that says why
        it could not go on, is kept in the file."""
        self._stopped_because = because or self._stopped_because
        with self._lock:
            now = self._clock()
            for shard in self._up:
                self._shard_down_at[shard] = now
            self._up.clear()
        self._mark_down()

    def view(self) -> GatewayView:
        """The shards' state for the watchdog (from any thread): which are down since when,
        and when the event loop last refreshed the heartbeat."""
        with self._lock:
            down = {
                shard: self._shard_down_at.get(shard, self._started)
                for shard in self._expected - self._up
            }
            return GatewayView(self._expected, down, self._loop_beat)

    def store_problem(self, problem: str | None) -> None:
        """The store cannot write (`problem` says why), or can again (None): unhealthy while
        it cannot, with the reason in the file, since messages are neither stored nor answered.
        (Docker marks the container unhealthy; a restart would not mend a full disk.)"""
        self._store_problem = problem
        if self.connected:
            self._write_beat()
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
        """Refresh the file, if connected (called every `interval` seconds by the event loop,
        connected or not: the watchdog's sign that the loop runs)."""
        self._loop_beat = self._clock()
        self._write_beat()

    def _write_beat(self) -> None:
        if not self.connected:
            return
        self._last_beat = self._clock()
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
    """Every `check_every` seconds, asks a `ShardWatch` of `limit` seconds what to do about
    the heartbeat's shards: calls `on_reconnect(shard_id)` (from its thread) for each shard
    to reconnect on its own; when the process must go, calls `on_stale`, then `hard_exit` if
    the process is still there `grace` seconds later."""

    def __init__(
        self,
        heartbeat: Heartbeat,
        *,
        limit: float,
        on_stale: Callable[[], object],
        on_reconnect: Callable[[int], object],
        grace: float = 30.0,
        check_every: float = 5.0,
        hard_exit: Callable[[], None] = lambda: os._exit(1),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._heartbeat = heartbeat
        self._shards = ShardWatch(limit=limit)
        self._on_stale = on_stale
        self._on_reconnect = on_reconnect
        self._grace = grace
        self._check_every = check_every
        self._hard_exit = hard_exit
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self.tripped = False
        self.reconnected: list[int] = []  # the shards reconnected, in order (for tests)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self._check_every):
            decision = self._shards.decide(self._heartbeat.view(), self._clock())
            if decision.action == "exit":
                break
            for shard_id in decision.shard_ids:
                log.warning(
                    "watchdog: shard %d disconnected for more than %.0f s: reconnecting that "
                    "shard alone (the others keep their sessions)",
                    shard_id,
                    self._shards.limit,
                )
                self.reconnected.append(shard_id)
                with contextlib.suppress(Exception):
                    self._on_reconnect(shard_id)
        else:
            return
        self.tripped = True
        log.critical("watchdog: %s: stopping so that the bot is restarted", decision.reason)
        with contextlib.suppress(Exception):
            self._on_stale()
        if not self._stop.wait(self._grace):
            log.critical("the bot did not stop within %.0f s: exiting now", self._grace)
            self._hard_exit()
