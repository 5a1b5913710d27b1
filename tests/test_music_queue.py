"""The music queue persists through the store: a new store on the same files sees it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.store import SqliteStore
from services.voice.music_queue import MusicQueues, QueueDocuments, QueueFull, Track

GUILD = 42


def track(n: int) -> Track:
    return Track.new(
        title=f"t{n}", page_url=f"https://youtu.be/{n}", duration_seconds=n, requester_id=7
    )


async def test_the_queue_survives_a_new_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    queues = MusicQueues(QueueDocuments(store), max_length=3)
    first, second = track(1), track(2)
    assert await queues.add(GUILD, first) == 0
    assert await queues.add(GUILD, second) == 1
    await store.close()

    store = SqliteStore(tmp_path)
    queues = MusicQueues(QueueDocuments(store), max_length=3)
    assert await queues.tracks(GUILD) == [first, second]
    assert await queues.tracks(GUILD + 1) == []
    # A late "ended" for a track already gone never drops the next one.
    assert await queues.finish(GUILD, first.entry_id) == second
    assert await queues.finish(GUILD, first.entry_id) == second
    assert await queues.finish(GUILD, second.entry_id) is None
    assert await store.get_state("music_queue", str(GUILD)) is None
    await store.close()


async def test_the_queue_has_a_limit(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    queues = MusicQueues(QueueDocuments(store), max_length=2)
    await queues.add(GUILD, track(1))
    await queues.add(GUILD, track(2))
    with pytest.raises(QueueFull):
        await queues.add(GUILD, track(3))
    assert await queues.clear(GUILD) == 2
    assert await queues.head(GUILD) is None
    await store.close()


async def test_memory_keeps_only_the_queues_that_have_tracks(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    queues = MusicQueues(QueueDocuments(store), max_length=3)
    for guild in range(1, 101):  # /queue in a hundred servers with nothing queued
        assert await queues.tracks(guild) == []
    assert queues.guilds_in_memory == 0
    first = track(1)
    await queues.add(1, first)
    await queues.add(2, track(2))
    assert queues.guilds_in_memory == 2
    await queues.finish(1, first.entry_id)  # the last track of guild 1 ended
    await queues.clear(2)
    assert queues.guilds_in_memory == 0
    await queues.add(1, track(3))  # and back from the store as before
    assert [t.title for t in await MusicQueues(QueueDocuments(store), max_length=3).tracks(1)] == [
        "t3"
    ]
    await store.close()
