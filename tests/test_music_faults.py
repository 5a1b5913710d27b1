"""Music sources that fail mid-way, hang, or meet a crash: the bot recovers, loses nothing."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from app.settings import Settings
from services.store import SqliteStore
from services.voice.music_queue import MusicQueues, QueueDocuments
from tests.audio import make_tone, mono, tone_power
from tests.conftest import Media
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.voice_client import connect_recording_voice
from tests.harness import ALICE, VOICE, eventually, kill_9, running_bot, start_writer
from tests.test_e2e_music import answer, command, voice_of


async def test_a_stream_cut_mid_song_reconnects_and_plays_to_the_end(
    fake_discord: FakeDiscord,
    voice_settings: Settings,
    media: Media,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("cut")
    song = await asyncio.to_thread(make_tone, folder / "cut.mp3", frequency=440, seconds=4.0)
    url = media.server.add_cut_file("cut.mp3", song, share=0.4)
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        await answer(await command(fake_discord, "play", query=url))
        voice = voice_of(bot)
        # The player finishes the song and leaves when idle: then every frame is in.
        await fake_discord.wait_for_state(lambda: fake_discord.bot_voice_channel is None, 20)
    heard = [frame for frame in voice.frames if tone_power(mono([frame]), 440) > 0.1]
    assert len(heard) >= 190  # 4 s is 200 frames: the song played past the cut at 40%
    assert "cut.mp3" in media.server.range_requests  # FFmpeg resumed where it was cut


async def test_a_source_that_never_answers_gets_a_clear_sentence(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    url = media.server.add_hanging("hang.mp3")
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord,
        voice_settings,
        connect_voice=connect_recording_voice,
        music_timeout_seconds=0.5,
    ):
        refused = await answer(await command(fake_discord, "play", query=url))
    assert refused["flags"] & 64
    assert refused["content"] == (
        "The source took too long to answer: try again, or pick another one."
    )


async def test_ffmpeg_complaints_go_to_the_log_not_to_stderr(
    fake_discord: FakeDiscord,
    voice_settings: Settings,
    media: Media,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A page whose <audio> yt-dlp takes without opening it: FFmpeg meets the bad bytes when it
    # plays them (a direct link to them is refused by the probe before it is queued).
    page = media.server.add_page("broken-for-ffmpeg", "broken", ["broken.mp3"])
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice, generic_extractor=True
    ):
        broken = await command(fake_discord, "play", query=page)
        await answer(broken)
        await broken.wait_for(
            lambda r: r["kind"] == "followup" and "couldn't be played" in r["payload"]["content"]
        )
        await eventually(lambda: _ffmpeg_said(caplog, "Invalid data found"))
    said = [r for r in caplog.records if r.name == "commands.voice_audio" and "ffmpeg" in r.msg]
    assert all(r.levelno == logging.WARNING for r in said)
    assert len([r for r in said if "Error opening input files" in r.getMessage()]) == 1
    assert "Invalid data found" not in capfd.readouterr().err


async def _ffmpeg_said(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(
        r.name == "commands.voice_audio" and r.msg.startswith("ffmpeg") and text in r.getMessage()
        for r in caplog.records
    )


QUEUE_WRITER = """
import asyncio, sys
from pathlib import Path
from services.voice.music_queue import MusicQueues, QueueDocuments, Track
from services.store import SqliteStore

async def main() -> None:
    queues = MusicQueues(QueueDocuments(SqliteStore(Path(sys.argv[1]))), max_length=10_000)
    n = 0
    while True:
        n += 1
        await queues.add(1, Track.new(title=f"t{n}", page_url=f"https://x/{n}",
                                      duration_seconds=n, requester_id=7))
        if n % 4 == 0:
            head = await queues.head(1)
            assert head is not None
            await queues.finish(1, head.entry_id)
        print(n, flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("kill_after", [3, 17, 40])
def test_the_music_queue_survives_kill_9(tmp_path: Path, kill_after: int) -> None:
    child = start_writer(QUEUE_WRITER, tmp_path)
    assert child.stdout is not None
    acknowledged = [int(child.stdout.readline()) for _ in range(kill_after)]
    # The child goes on while the test reads: what it printed before dying counts too.
    acknowledged += [int(line) for line in kill_9(child)]
    titles = asyncio.run(queued_titles(tmp_path))
    # Exactly the acknowledged queue, or that queue plus the step in flight at the kill.
    last = acknowledged[-1]
    after_add = queue_after(adds=last + 1, finishes=last // 4)
    possible = [queue_after(adds=last, finishes=last // 4), after_add]
    if (last + 1) % 4 == 0:
        possible.append(after_add[1:])
    assert titles in possible


def queue_after(*, adds: int, finishes: int) -> list[str]:
    return [f"t{n}" for n in range(finishes + 1, adds + 1)]


async def queued_titles(data_dir: Path) -> list[str]:
    store = SqliteStore(data_dir)
    try:
        return [
            track.title
            for track in await MusicQueues(QueueDocuments(store), max_length=100).tracks(1)
        ]
    finally:
        await store.close()
