"""yt-dlp in the resolver's own worker processes: hung resolutions slow nothing else down,
are cut off at the resolver's limit, and leave the workers free for the next /play."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.settings import Settings
from services.store import SqliteStore
from services.store.model import StoredMessage
from services.voice.music_source import MusicRefused, MusicResolver
from tests.conftest import Media
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.voice_client import connect_recording_voice
from tests.harness import ALICE, VOICE, running_bot
from tests.test_e2e_music import answer, command

TIMEOUT = 0.5  # yt-dlp's socket timeout; a resolution is cut off after three times this


def message(n: int) -> StoredMessage:
    return StoredMessage(
        message_id=5000 + n,
        guild_id=1,
        channel_id=2,
        author_id=3,
        author_name="member",
        content=f"while yt-dlp hangs {n}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def resolver() -> AsyncIterator[MusicResolver]:
    """The resolver with its production pool (two workers), reading the loopback media
    server's pages through yt-dlp's generic extractor."""
    found = MusicResolver(
        allowed_hosts={"localhost"},
        max_seconds=60,
        allow_private_network=True,
        allow_generic_extractor=True,
        timeout=TIMEOUT,
    )
    yield found
    await found.close()


async def test_six_hung_resolutions_do_not_slow_the_store_and_free_their_workers(
    resolver: MusicResolver, media: Media, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "data")
    try:
        await store.add(message(0), counted=True)  # opened before the clock starts
        endless = resolver.classify(media.server.add_endless_page("endless-six"))
        hung = [asyncio.create_task(resolver.resolve(endless)) for _ in range(6)]
        # Both workers are inside yt-dlp, reading a page that never ends; four requests wait.
        await media.server.wait_for_requests("endless-six", 2)
        busy_workers = resolver.yt_dlp.pids()
        assert len(busy_workers) == 2
        # Timed as `timeit` does, without the garbage collector: a full collection of this
        # test process (~90 ms with the whole suite loaded) is a pause of its own, not a wait
        # for a thread.
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            await store.add(message(1), counted=True)
            took = time.perf_counter() - started
        finally:
            gc.enable()
        assert took < 0.050, f"store.add took {took * 1000:.1f} ms while yt-dlp hung"

        outcomes = await asyncio.gather(*hung, return_exceptions=True)
        assert all(isinstance(o, MusicRefused) for o in outcomes), outcomes
        reasons = sorted(o.reason for o in outcomes if isinstance(o, MusicRefused))
        # The two in yt-dlp are cut off, their workers killed; the four waiting for a worker
        # are told the bot is busy rather than queued for minutes.
        assert reasons == ["busy"] * 4 + ["timeout"] * 2
        assert not any(alive(pid) for pid in busy_workers)
        assert media.server.requests.count("endless-six") == 2

        page = media.server.add_page("after-the-hang", "After the hang", ["song.ogg"])
        track = await resolver.resolve(resolver.classify(page))
        assert track.stream_url == media.song_ogg
        assert len(resolver.yt_dlp.pids()) == 1  # a new worker, started when needed
    finally:
        await store.close()


async def test_a_cancelled_resolution_kills_its_worker(
    resolver: MusicResolver, media: Media
) -> None:
    endless = resolver.classify(media.server.add_endless_page("endless-cancelled"))
    resolving = asyncio.create_task(resolver.resolve(endless))
    await media.server.wait_for_requests("endless-cancelled", 1)
    (worker,) = resolver.yt_dlp.pids()
    resolving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await resolving
    assert not alive(worker)  # its answer would otherwise reach the next request
    assert resolver.yt_dlp.pids() == set()


async def test_close_stops_the_workers() -> None:
    resolver = MusicResolver(allowed_hosts={"youtube.com"}, max_seconds=60)
    await resolver.warm_up()
    (worker,) = resolver.yt_dlp.pids()
    assert alive(worker)
    await resolver.close()
    assert not alive(worker)
    with pytest.raises(MusicRefused) as refused:
        await resolver.resolve(resolver.classify("some words"))
    assert refused.value.reason == "busy"


async def test_a_page_that_never_ends_is_refused_and_the_next_play_works(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    endless = media.server.add_endless_page("endless-play")
    page = media.server.add_page("after-endless-play", "After", ["song.ogg"])
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord,
        voice_settings,
        connect_voice=connect_recording_voice,
        generic_extractor=True,
        music_timeout_seconds=TIMEOUT,
    ):
        # As many as the resolver has workers: each hangs one until it is cut off.
        plays = [await command(fake_discord, "play", query=endless) for _ in range(2)]
        refused = await asyncio.gather(*(answer(play) for play in plays))
        for said in refused:
            assert said["flags"] & 64
            assert said["content"] == (
                "The source took too long to answer: try again, or pick another one."
            )
        played = await answer(await command(fake_discord, "play", query=page))
    assert played["content"].startswith("▶️ Now playing"), played["content"]
