"""The watchdog's decisions, shard by shard, on a fake clock: one shard's outage is mended
on that shard alone; the process goes only when that did not help, or when it is stuck."""

from __future__ import annotations

from pathlib import Path

from services.health import Heartbeat
from services.shard_watch import GatewayView, ShardWatch, WatchDecision

LIMIT = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def view(
    *, down: dict[int, float], loop_beat: float, expected: tuple[int, ...] = (0, 1)
) -> GatewayView:
    return GatewayView(frozenset(expected), down, loop_beat)


def test_one_shard_down_past_the_limit_is_reconnected_alone_then_the_process_goes() -> None:
    watch = ShardWatch(limit=LIMIT)
    # Shard 1 dropped at 0; shard 0 stays up; the loop keeps running.
    assert watch.decide(view(down={1: 0}, loop_beat=600), 600) == WatchDecision("wait")
    decision = watch.decide(view(down={1: 0}, loop_beat=601), 601)
    assert (decision.action, decision.shard_ids) == ("reconnect", (1,))
    assert "shard(s) 1 disconnected for more than 600 s" in decision.reason
    # Reconnected once: not again while the reconnect has its own limit to work.
    assert watch.decide(view(down={1: 0}, loop_beat=1200), 1201) == WatchDecision("wait")
    decision = watch.decide(view(down={1: 0}, loop_beat=1202), 1202)
    assert (decision.action, decision.shard_ids) == ("exit", (1,))
    assert decision.reason == "shard(s) 1 still disconnected 600 s after being reconnected"


def test_a_reconnected_shard_that_came_back_starts_a_new_outage_from_scratch() -> None:
    watch = ShardWatch(limit=LIMIT)
    assert watch.decide(view(down={1: 0}, loop_beat=601), 601).action == "reconnect"
    assert watch.decide(view(down={}, loop_beat=700), 700) == WatchDecision("wait")  # back
    # Down again later: reconnected first again, not an exit.
    assert watch.decide(view(down={1: 800}, loop_beat=1300), 1300) == WatchDecision("wait")
    decision = watch.decide(view(down={1: 800}, loop_beat=1401), 1401)
    assert (decision.action, decision.shard_ids) == ("reconnect", (1,))


def test_every_shard_down_past_the_limit_restarts_the_process() -> None:
    watch = ShardWatch(limit=LIMIT)
    # Shard 1 since 0, shard 0 since 300: not every shard for the limit yet, shard 1 alone is.
    decision = watch.decide(view(down={0: 300, 1: 0}, loop_beat=601), 601)
    assert (decision.action, decision.shard_ids) == ("reconnect", (1,))
    decision = watch.decide(view(down={0: 300, 1: 0}, loop_beat=901), 901)
    assert (decision.action, decision.shard_ids) == ("exit", (0, 1))
    assert decision.reason.startswith("every shard of this process (0, 1) has been disconnected")
    # A process of one shard: its outage is the process's.
    alone = ShardWatch(limit=LIMIT).decide(view(down={0: 0}, loop_beat=601, expected=(0,)), 601)
    assert (alone.action, alone.shard_ids) == ("exit", (0,))


def test_a_stuck_event_loop_restarts_the_process_with_every_shard_up() -> None:
    decision = ShardWatch(limit=LIMIT).decide(view(down={}, loop_beat=0), 601)
    assert decision.action == "exit"
    assert decision.reason == "the event loop has not run for 601 s (stuck)"


def test_shards_of_other_processes_are_not_this_watchdogs_business() -> None:
    watch = ShardWatch(limit=LIMIT)
    decision = watch.decide(view(down={5: 0}, loop_beat=700, expected=(0, 1)), 700)
    assert decision == WatchDecision("wait")


def test_the_heartbeat_tells_the_watchdog_which_shard_is_down_since_when(tmp_path: Path) -> None:
    clock = Clock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=15, clock=clock)
    started = clock.now
    heartbeat.expect([0, 1])
    heartbeat.up(0)
    # Shard 1 has not connected yet: down since the start.
    assert heartbeat.view() == GatewayView(frozenset({0, 1}), {1: started}, started)
    clock.now += 5
    heartbeat.up(1)
    clock.now += 100
    heartbeat.down(1)
    dropped = clock.now
    clock.now += 50
    heartbeat.down(1)  # a failed attempt to come back: still down since the drop
    heartbeat.beat()  # the loop runs, though not every shard is up
    assert heartbeat.view() == GatewayView(frozenset({0, 1}), {1: dropped}, clock.now)
    heartbeat.up(1)
    assert heartbeat.view().down_since == {}
