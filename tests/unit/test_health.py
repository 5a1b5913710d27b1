"""The heartbeat file, what reading it says, and the watchdog thread."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from services.health import Heartbeat, Watchdog, read_health


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
    watchdog = Watchdog(heartbeat, limit=0.1, on_stale=tripped.set, check_every=0.01)
    watchdog.start()
    try:
        for _ in range(10):  # beats for twice the limit, a beat every wait
            heartbeat.beat()
            assert not tripped.wait(0.02)
    finally:
        watchdog.stop()
    assert not watchdog.tripped
