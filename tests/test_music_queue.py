"""The music queue persists through the store: a new store on the same files sees it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.music_queue import MusicQueues, QueueDocuments, QueueFull, Track
from services.store import SqliteStore

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
