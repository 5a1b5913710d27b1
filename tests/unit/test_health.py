"""The heartbeat file, what reading it says, and the watchdog thread (its decisions, shard by
shard: test_shard_watch.py)."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

from services.health import Heartbeat, Watchdog, read_health


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_heartbeat_is_healthy_only_while_up(tmp_path: Path) -> None:
    path = tmp_path / "data" / "heartbeat"
    heartbeat = Heartbeat(path, interval=10)
    assert not read_health(path).ok  # not connected yet: no file
    heartbeat.beat()
    assert not path.exists()  # a beat while down writes nothing
    heartbeat.up()
    assert read_health(path).ok
    heartbeat.down()
    health = read_health(path)
    assert not health.ok
    assert health.reason.startswith("disconnected from Discord for ")
    heartbeat.up()
    assert read_health(path).ok


def test_a_process_of_several_shards_is_healthy_only_while_all_are_up(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    heartbeat = Heartbeat(path, interval=10)
    heartbeat.expect([2, 3])
    heartbeat.up(2)
    assert not heartbeat.connected and not path.exists()  # shard 3 has not connected yet
    heartbeat.up(3)
    assert read_health(path).ok
    assert heartbeat.down(3)
    dropped_at = json.loads(path.read_text())["at"]
    health = read_health(path, now=dropped_at + 7)
    assert (health.ok, health.reason) == (False, "shard(s) 3 disconnected from Discord for 7 s")
    heartbeat.beat()  # shard 2 still beats: the file stays down
    assert not read_health(path).ok
    assert not heartbeat.down(3)  # a failed attempt to come back: no new drop
    assert heartbeat.down(2)
    both = json.loads(path.read_text())
    assert both["down"] == [2, 3] and both["at"] == dropped_at  # down since the first drop
    heartbeat.up(2)
    heartbeat.up(3)
    assert read_health(path).ok
    heartbeat.stop()
    assert read_health(path).reason.startswith("shard(s) 2, 3 disconnected from Discord for ")


def test_a_heartbeat_older_than_three_intervals_is_stale(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    Heartbeat(path, interval=10).up()
    written = json.loads(path.read_text())["at"]
    assert read_health(path, now=written + 29).ok
    stale = read_health(path, now=written + 31)
    assert not stale.ok
    assert stale.reason.startswith("stale heartbeat: last beat 31 s ago")


def test_an_unreadable_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    path.write_text("{half")
    assert read_health(path).reason.startswith("unreadable heartbeat")


def test_the_watchdog_stops_the_bot_then_exits_if_it_does_not_stop(tmp_path: Path) -> None:
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=0.01)
    asked, exited = threading.Event(), threading.Event()
    watchdog = Watchdog(
        heartbeat,
        limit=0.05,
        on_stale=asked.set,
        on_reconnect=lambda shard_id: None,
        grace=0.05,
        check_every=0.01,
        hard_exit=exited.set,
    )
    watchdog.start()
    try:
        assert asked.wait(5)
        assert exited.wait(5)
    finally:
        watchdog.stop()
    assert watchdog.tripped


def test_the_watchdog_lets_a_beating_bot_be(tmp_path: Path) -> None:
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=0.01)
    heartbeat.up()
    tripped = threading.Event()
    watchdog = Watchdog(
        heartbeat,
        limit=0.1,
        on_stale=tripped.set,
        on_reconnect=lambda shard_id: tripped.set(),
        check_every=0.01,
    )
    watchdog.start()
    try:
        for _ in range(10):  # beats for twice the limit, a beat every wait
            heartbeat.beat()
            assert not tripped.wait(0.02)
    finally:
        watchdog.stop()
    assert not watchdog.tripped


def test_the_watchdog_reconnects_one_shard_down_and_leaves_the_process_be(tmp_path: Path) -> None:
    clock = Clock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=15, clock=clock)
    heartbeat.expect([0, 1])
    heartbeat.up(0)
    heartbeat.up(1)
    heartbeat.down(1)
    reconnected: queue.Queue[int] = queue.Queue()
    stale = threading.Event()
    watchdog = Watchdog(
        heartbeat,
        limit=600,
        on_stale=stale.set,
        on_reconnect=reconnected.put,
        check_every=0.01,
        hard_exit=stale.set,
        clock=clock,
    )
    clock.now += 601
    heartbeat.beat()  # the loop runs
    watchdog.start()
    try:
        assert reconnected.get(timeout=5) == 1
        assert not stale.wait(0.1)  # many checks later: shard 1 has its limit to come back
    finally:
        watchdog.stop()
    assert (watchdog.tripped, watchdog.reconnected, reconnected.empty()) == (False, [1], True)


def test_the_watchdog_stops_the_bot_when_the_reconnected_shard_stays_down(tmp_path: Path) -> None:
    clock = Clock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=15, clock=clock)
    heartbeat.expect([0, 1])
    heartbeat.up(0)
    heartbeat.up(1)
    heartbeat.down(1)
    reconnected: queue.Queue[int] = queue.Queue()
    asked = threading.Event()
    watchdog = Watchdog(
        heartbeat,
        limit=600,
        on_stale=asked.set,
        on_reconnect=reconnected.put,
        grace=60,
        check_every=0.01,
        hard_exit=lambda: None,
        clock=clock,
    )
    clock.now += 601
    heartbeat.beat()
    watchdog.start()
    try:
        assert reconnected.get(timeout=5) == 1
        clock.now += 601
        heartbeat.beat()  # shard 1 still down 600 s after its reconnect
        assert asked.wait(5)
    finally:
        watchdog.stop()
    assert watchdog.tripped and watchdog.reconnected == [1]
