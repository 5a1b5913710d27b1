"""Voice benchmark: time from /play to the first audio frame, and CPU per playing guild.

Runs the real bot against the loopback fakes the tests use (fake Discord, media server, fake
ElevenLabs, the recording voice client), so the numbers cover yt-dlp, FFmpeg, the queue in
the store, the mixer and discord.py's player thread, but not Opus encoding or UDP (the
recording client keeps PCM; see the README).

    python -m bench.voice_bench
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from app.settings import Secret
from commands.music import MusicCog
from commands.voice_audio import DiscordVoiceOutput
from services.voice.audio_mix import FRAME_BYTES, Ducker
from tests.audio import FFMPEG, make_tone
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord, FakeInteraction
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.media_server import MediaServer
from tests.fakes.voice_client import RecordingVoiceClient, connect_recording_voice
from tests.harness import (
    ALICE,
    AZURE_KEY,
    ELEVENLABS_KEY,
    ELEVENLABS_VOICE,
    GENERAL,
    GUILD_ID,
    VOICE,
    new_fake_discord,
    running_bot,
    settings_for,
)

PLAYS = 5
PLAY_SECONDS = 8.0


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process (all threads) and of its finished children (FFmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


async def send(fake: FakeDiscord, name: str, **options: str) -> FakeInteraction:
    return await fake.send_interaction(
        name,
        user=ALICE,
        channel_id=GENERAL,
        options=[{"name": k, "type": 3, "value": v} for k, v in options.items()],
    )


def mixing_cost_us() -> float:
    ducker, music, speech = Ducker(), os.urandom(FRAME_BYTES), os.urandom(FRAME_BYTES)
    frames = 500
    start = time.perf_counter()
    for _ in range(frames):
        ducker.mix(music, speech)
    return (time.perf_counter() - start) / frames * 1e6


async def run(folder: Path) -> None:
    media = MediaServer()
    await media.start()
    short = media.add_file("short.mp3", make_tone(folder / "short.mp3", frequency=440, seconds=3))
    long = media.add_file(
        "long.mp3", make_tone(folder / "long.mp3", frequency=440, seconds=PLAY_SECONDS + 4)
    )
    speech = make_tone(folder / "speech.mp3", frequency=1000, seconds=3)
    eleven = FakeElevenLabs(api_key=ELEVENLABS_KEY, voice_id=ELEVENLABS_VOICE, audio=speech)
    azure = FakeAzureOpenAI(api_key=AZURE_KEY, deployment="gpt-bench")
    fake = new_fake_discord()
    await eleven.start()
    await azure.start()
    await fake.start()
    settings = settings_for(fake, azure, folder / "data")
    overrides: dict[str, Any] = {
        "music_allow_private_network": True,  # the media server is on loopback
        "elevenlabs_api_key": Secret(ELEVENLABS_KEY),
        "elevenlabs_voice_id": ELEVENLABS_VOICE,
        "elevenlabs_base_url": eleven.base_url,
        "say_cooldown_seconds": 0,
    }
    try:
        with fake.install():
            await fake.join_voice(ALICE, VOICE)
            async with running_bot(
                fake, settings, connect_voice=connect_recording_voice, **overrides
            ) as bot:
                # As in a bot that has been up a second: yt-dlp's warm-up is over.
                music = bot.get_cog("MusicCog")
                assert isinstance(music, MusicCog)
                await music.warmed_up()
                first_frames: list[float] = []
                for _ in range(PLAYS):
                    sent = time.perf_counter()
                    await send(fake, "play", query=short)
                    await fake.wait_for_state(lambda: _voice(bot) is not None)
                    voice = _voice(bot)
                    assert voice is not None
                    await voice.wait_for_frames(1)
                    assert voice.first_frame_at is not None
                    first_frames.append((voice.first_frame_at - sent) * 1000)
                    await (await send(fake, "stop")).wait_for_response()
                    await fake.wait_for_state(lambda: fake.bot_voice_channel is None)

                await send(fake, "play", query=long)
                await fake.wait_for_state(lambda: _voice(bot) is not None)
                voice = _voice(bot)
                assert voice is not None
                await voice.wait_for_frames(10)
                music_only = await _cpu_while_playing(voice, PLAY_SECONDS / 2)
                await (await send(fake, "say", text="benchmark speech")).wait_for_response()
                with_speech = await _cpu_while_playing(voice, 2.0)
                await (await send(fake, "stop")).wait_for_response()
    finally:
        await fake.stop()
        await azure.stop()
        await eleven.stop()
        await media.stop()

    print(f"/play to first audio frame, loopback source ({PLAYS} runs):")
    print(
        f"  median {statistics.median(first_frames):.0f} ms, "
        f"min {min(first_frames):.0f} ms, max {max(first_frames):.0f} ms"
    )
    print("CPU per playing guild (bot process, all threads; FFmpeg separately):")
    print(f"  music only:        {music_only * 100:.1f}% of one core")
    print(f"  music with speech: {with_speech * 100:.1f}% of one core (the mixer at work)")
    print(f"  mixing one 20 ms frame of music and speech: {mixing_cost_us():.0f} µs")


def _voice(bot: object) -> RecordingVoiceClient | None:
    players = getattr(bot, "voice_players", None)
    player = players.get(GUILD_ID) if players is not None else None
    output = player.voice if player is not None else None
    voice = output.client if isinstance(output, DiscordVoiceOutput) else None
    return voice if isinstance(voice, RecordingVoiceClient) else None


async def _cpu_while_playing(voice: RecordingVoiceClient, seconds: float) -> float:
    """Share of one core the bot process used while `voice` received `seconds` of audio."""
    frames = round(seconds * 50)
    start_frames = len(voice.frames)
    own_before, _ = cpu_seconds()
    wall = time.perf_counter()
    await voice.wait_for_frames(start_frames + frames, timeout=seconds * 3)
    own_after, _ = cpu_seconds()
    return (own_after - own_before) / (time.perf_counter() - wall)


def ffmpeg_share(song: Path, seconds: float) -> float:
    """Share of one core FFmpeg needs to decode `song` to Discord's PCM, as the bot runs it."""
    _, before = cpu_seconds()
    command = [FFMPEG, "-loglevel", "error", "-i", str(song)]
    subprocess.run(
        [*command, "-f", "s16le", "-ar", "48000", "-ac", "2", "-"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _, after = cpu_seconds()
    return (after - before) / seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(Path(folder)))
        share = ffmpeg_share(Path(folder) / "long.mp3", PLAY_SECONDS + 4)
        print(f"  FFmpeg decoding the MP3 to PCM: {share * 100:.1f}% of one core")


if __name__ == "__main__":
    main()
