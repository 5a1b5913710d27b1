"""Which channels, threads and forum posts the bot listens to, and forgetting one that is gone."""

from __future__ import annotations

from services.servers.watched_channels import WatchRule, forget_channel
from services.store import MemoryStore
from tests.unit.fakes import GUILD, message

WATCHED, OTHER, THREAD = 10, 20, 30


def test_watched_channels_and_their_threads() -> None:
    rule = WatchRule(frozenset({WATCHED}), GUILD)
    assert rule.watches(GUILD, WATCHED)
    assert rule.watches(GUILD, THREAD, parent_id=WATCHED)  # a thread or a forum post
    assert not rule.watches(GUILD, OTHER)
    assert not rule.watches(GUILD, THREAD, parent_id=OTHER)
    assert not rule.watches(None, WATCHED)  # a direct message
    assert not rule.watches(GUILD + 1, WATCHED)  # another guild


def test_threads_can_be_left_out() -> None:
    rule = WatchRule(frozenset({WATCHED}), None, threads=False)
    assert rule.watches(GUILD, WATCHED)
    assert not rule.watches(GUILD, THREAD, parent_id=WATCHED)


async def test_forgetting_a_channel_removes_only_its_messages() -> None:
    store = MemoryStore()
    for n in range(1, 1201):
        await store.add(message(n, channel=THREAD), counted=True)
    await store.add(message(5000, channel=WATCHED), counted=True)
    assert await forget_channel(store, THREAD) == 1200
    assert await store.last_in_channel(THREAD, 10) == []
    assert len(await store.last_in_channel(WATCHED, 10)) == 1
    assert await forget_channel(store, THREAD) == 0
