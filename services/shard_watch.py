"""What the watchdog does about an outage, shard by shard: plain shard ids and times in, a
decision out.

One shard down is its servers unanswered, not the process's: a shard that stays down past
the limit is reconnected on its own, and the others keep their sessions. The process is
restarted (the watchdog exits, the service manager starts a fresh one) only when that did not
help, or when nothing a reconnect could mend is left:

- the event loop has not run for the limit (stuck: nothing on it can be trusted);
- every shard of the process has been down for the limit (one shard, or an outage of all:
  a fresh process is what a reconnect of each would be, without the loop's state);
- a shard reconnected by the watchdog is still down the limit after that reconnect.

Times are `time.monotonic()` seconds (any clock, in tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

WatchAction = Literal["wait", "reconnect", "exit"]


@dataclass(frozen=True)
class GatewayView:
    """What the heartbeat knows at one moment."""

    expected: frozenset[int]  # the shards this process runs
    down_since: Mapping[int, float]  # each of them that is down: since when
    loop_beat: float  # when the event loop last ran the heartbeat's refresh


@dataclass(frozen=True)
class WatchDecision:
    action: WatchAction
    shard_ids: tuple[int, ...] = ()  # the shards to reconnect, or that made the process exit
    reason: str = ""


WAIT = WatchDecision("wait")


def _shards(shard_ids: tuple[int, ...]) -> str:
    return ", ".join(str(shard) for shard in shard_ids)


class ShardWatch:
    """Decides, at each check, whether to wait, reconnect some shards, or exit; remembers
    which shards it reconnected during their current outage."""

    def __init__(self, *, limit: float) -> None:
        self.limit = limit
        self._reconnected_at: dict[int, float] = {}  # shard -> when the watchdog reconnected it

    def decide(self, view: GatewayView, now: float) -> WatchDecision:
        limit = self.limit
        silent = now - view.loop_beat
        if silent > limit:
            return WatchDecision(
                "exit", reason=f"the event loop has not run for {silent:.0f} s (stuck)"
            )
        down = {shard: since for shard, since in view.down_since.items() if shard in view.expected}
        for shard in list(self._reconnected_at):
            if shard not in down:  # back (or no longer this process's): a new outage starts anew
                del self._reconnected_at[shard]
        if down and down.keys() >= view.expected:
            newest = max(down.values())
            if now - newest > limit:
                every = tuple(sorted(down))
                return WatchDecision(
                    "exit",
                    every,
                    f"every shard of this process ({_shards(every)}) has been disconnected "
                    f"for more than {limit:.0f} s",
                )
        failed = tuple(
            sorted(shard for shard, at in self._reconnected_at.items() if now - at > limit)
        )
        if failed:
            return WatchDecision(
                "exit",
                failed,
                f"shard(s) {_shards(failed)} still disconnected {limit:.0f} s after being "
                "reconnected",
            )
        stale = tuple(
            sorted(
                shard
                for shard, since in down.items()
                if shard not in self._reconnected_at and now - since > limit
            )
        )
        if not stale:
            return WAIT
        for shard in stale:
            self._reconnected_at[shard] = now
        return WatchDecision(
            "reconnect",
            stale,
            f"shard(s) {_shards(stale)} disconnected for more than {limit:.0f} s",
        )
