"""The bot's voice channel changing under it: everyone leaving, a moderator disconnecting or
moving the bot. The real bot against the fake Discord's VOICE_STATE_UPDATEs."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.bot import AzureBot
from app.settings import Settings
from commands.presence import PresenceCog
from tests.conftest import Media
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.voice_client import RecordingVoiceClient, connect_recording_voice
from tests.harness import (
    ALICE,
    BRUNO,
    GUILD_ID,
    OTHER_BOT,
    QUIET_ROOM,
    VOICE,
    eventually,
    running_bot,
)
from tests.test_e2e_music import _playing, answer, command, player, voice_of


@pytest.fixture
async def voice_channels(fake_discord: FakeDiscord) -> AsyncIterator[FakeDiscord]:
    """Alice in the Lounge; afterwards the others out of voice again (the fake is shared)."""
    await fake_discord.join_voice(ALICE, VOICE)
    yield fake_discord
    for someone in (BRUNO, OTHER_BOT):
        await fake_discord.leave_voice(someone)
    await fake_discord.join_voice(ALICE, VOICE)


def running_ffmpeg() -> list[int]:
    """This process's FFmpeg children still running (not ended, not zombies)."""
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        name, _, rest = text.partition("(")[2].rpartition(")")
        state, parent = rest.split()[:2]
        if parent == me and name.startswith("ffmpeg") and state != "Z":
            found.append(int(stat.parent.name))
    return found


def presence_line(bot: AzureBot) -> str | None:
    presence = bot.get_cog("PresenceCog")
    assert isinstance(presence, PresenceCog)
    return presence.describe().name


async def test_alone_in_the_channel_the_bot_pauses_leaves_and_resume_carries_on(
    voice_channels: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    fake = voice_channels
    async with running_bot(fake, voice_settings, connect_voice=connect_recording_voice) as bot:
        await answer(await command(fake, "play", query=media.long_song))
        await voice_of(bot).wait_for_frames(10)
        await fake.leave_voice(ALICE)
        # After VOICE_IDLE_SECONDS (0.2 s here) with nobody to listen, it leaves.
        await fake.wait_for_state(lambda: fake.bot_voice_channel is None, what="the bot to leave")
        [kept] = await bot.services.music_queues.tracks(GUILD_ID)
        assert kept.title == "long"

        await fake.join_voice(ALICE, VOICE)
        resumed = await answer(await command(fake, "resume"))
        assert resumed["content"].startswith(f"▶️ <@{ALICE.id}> resumed long")
        assert fake.bot_voice_channel == VOICE
        voice = voice_of(bot)
        await voice.wait_for_frames(10)


async def test_someone_coming_back_before_the_idle_time_carries_on(
    voice_channels: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    fake = voice_channels
    await fake.join_voice(OTHER_BOT, VOICE)  # a bot is no company
    await fake.join_voice(BRUNO, QUIET_ROOM)  # nor is a member in another channel
    async with running_bot(
        fake, voice_settings, connect_voice=connect_recording_voice, voice_idle_seconds=600
    ) as bot:
        await answer(await command(fake, "play", query=media.long_song))
        voice = voice_of(bot)
        await voice.wait_for_frames(10)
        assert presence_line(bot) == "music in 1 server"

        await fake.leave_voice(ALICE)
        await eventually(lambda: _paused(voice))
        assert presence_line(bot) != "music in 1 server"
        assert fake.bot_voice_channel == VOICE

        await fake.join_voice(ALICE, VOICE)
        await eventually(lambda: _playing_again(voice))
        await voice.wait_for_frames(len(voice.frames) + 10)
        assert presence_line(bot) == "music in 1 server"
        assert fake.bot_voice_channel == VOICE


async def test_a_pause_by_a_member_is_kept_when_they_come_back(
    voice_channels: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    fake = voice_channels
    async with running_bot(
        fake, voice_settings, connect_voice=connect_recording_voice, voice_idle_seconds=600
    ) as bot:
        await answer(await command(fake, "play", query=media.long_song))
        voice = voice_of(bot)
        await voice.wait_for_frames(10)
        await answer(await command(fake, "pause"))
        await fake.leave_voice(ALICE)
        await fake.join_voice(ALICE, VOICE)
        # Both updates are handled in order: the paused song stays paused.
        await fake.join_voice(BRUNO, VOICE)
        await eventually(lambda: _in_voice(bot, BRUNO.id, VOICE))
        assert voice.is_paused()
        now = player(bot).now
        assert now is not None and now.paused


async def test_disconnected_by_a_moderator_the_bot_stops_and_play_rejoins(
    voice_channels: FakeDiscord,
    voice_settings: Settings,
    media: Media,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = voice_channels
    async with running_bot(fake, voice_settings, connect_voice=connect_recording_voice) as bot:
        await answer(await command(fake, "play", query=media.long_song))
        first = voice_of(bot)
        await first.wait_for_frames(10)
        assert running_ffmpeg()

        await fake.move_bot_voice(None)
        await eventually(lambda: _left(bot))
        await eventually(_no_ffmpeg)
        assert not first.is_playing()
        assert presence_line(bot) != "music in 1 server"
        [kept] = await bot.services.music_queues.tracks(GUILD_ID)
        assert kept.title == "long"

        reply = await answer(await command(fake, "play", query=media.song))
        assert reply["content"].startswith("➕ Queued song")
        assert fake.bot_voice_channel == VOICE
        await eventually(lambda: _playing(bot, "long"))
        second = voice_of(bot)
        assert second is not first
        await second.wait_for_frames(10)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_moved_by_a_moderator_the_bot_plays_on_there(
    voice_channels: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    fake = voice_channels
    await fake.join_voice(BRUNO, QUIET_ROOM)
    async with running_bot(fake, voice_settings, connect_voice=connect_recording_voice) as bot:
        await answer(await command(fake, "play", query=media.long_song))
        voice = voice_of(bot)
        await voice.wait_for_frames(10)

        await fake.move_bot_voice(QUIET_ROOM)
        await eventually(lambda: _bot_in(bot, QUIET_ROOM))
        await voice.wait_for_frames(len(voice.frames) + 25)
        assert voice_of(bot) is voice
        assert presence_line(bot) == "music in 1 server"
        # The music is controlled from where it plays now.
        refused = await answer(await command(fake, "skip"))
        assert refused["content"] == f"Join me in <#{QUIET_ROOM}> to control the music."
        paused = await answer(await command(fake, "pause", user=BRUNO))
        assert paused["content"].startswith(f"⏸️ <@{BRUNO.id}> paused long")


async def _paused(voice: RecordingVoiceClient) -> bool:
    return voice.is_paused()


async def _playing_again(voice: RecordingVoiceClient) -> bool:
    return voice.is_playing() and not voice.is_paused()


async def _left(bot: AzureBot) -> bool:
    # Out of voice, the player goes (the queue stays in the store).
    left = bot.voice_players.get(GUILD_ID)
    return left is None or left.voice is None


async def _bot_in(bot: AzureBot, channel_id: int) -> bool:
    return player(bot).channel_id == channel_id


async def _in_voice(bot: AzureBot, user_id: int, channel_id: int) -> bool:
    """The bot has seen the member in the channel (so it handled every update before)."""
    guild = bot.get_guild(GUILD_ID)
    member = guild.get_member(user_id) if guild else None
    return bool(
        member and member.voice and member.voice.channel and member.voice.channel.id == channel_id
    )


async def _no_ffmpeg() -> bool:
    return not running_ffmpeg()
