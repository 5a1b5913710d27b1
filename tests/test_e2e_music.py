"""/play and friends end to end: the real bot, the fake Discord (gateway voice states included),
yt-dlp and FFmpeg on a loopback media server, and a voice client that records the PCM."""

from __future__ import annotations

from typing import Any, cast

from app.bot import AzureBot
from app.settings import Settings
from commands.voice_audio import DiscordVoiceOutput
from services.music_queue import Track
from services.voice_player import GuildPlayer
from tests.audio import mono, tone_power
from tests.conftest import Media, on_both_stores
from tests.fakes.discord_server import FakeDiscord, FakeInteraction, FakeUser
from tests.fakes.voice_client import RecordingVoiceClient, connect_recording_voice
from tests.harness import (
    ALICE,
    BRUNO,
    CAROL,
    GENERAL,
    GUILD_ID,
    QUIET_ROOM,
    VOICE,
    eventually,
    running_bot,
)

JSON = dict[str, Any]


async def command(
    fake: FakeDiscord, name: str, user: FakeUser = ALICE, **options: str | int
) -> FakeInteraction:
    return await fake.send_interaction(
        name,
        user=user,
        channel_id=GENERAL,
        options=[
            {"name": key, "type": 3 if isinstance(value, str) else 4, "value": value}
            for key, value in options.items()
        ],
    )


async def answer(interaction: FakeInteraction) -> JSON:
    response = await interaction.wait_for_response()
    return cast(JSON, response["message"])


def player(bot: AzureBot) -> GuildPlayer:
    found = bot.voice_players.get(GUILD_ID)
    assert found is not None
    return found


def voice_of(bot: AzureBot) -> RecordingVoiceClient:
    output = player(bot).voice
    assert isinstance(output, DiscordVoiceOutput)
    assert isinstance(output.client, RecordingVoiceClient)
    return output.client


async def test_play_joins_the_members_channel_plays_the_song_and_leaves_when_idle(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        reply = await answer(await command(fake_discord, "play", query=media.song))
        assert reply["content"].startswith("▶️ Now playing [song]")
        assert reply["flags"] & 64  # ephemeral
        voice = voice_of(bot)
        # The gateway side of voice happened for real: op 4, then both updates.
        assert int(fake_discord.voice_state_requests[-1]["channel_id"]) == VOICE
        assert fake_discord.voice_state_requests[-1]["self_deaf"] is True
        assert voice.session_id and voice.token and voice.endpoint == fake_discord.voice_endpoint
        # One second of song, then the queue is empty and the bot leaves the channel.
        await fake_discord.wait_for_state(
            lambda: fake_discord.bot_voice_channel is None, what="the bot to leave"
        )
        assert await bot.services.music_queues.tracks(GUILD_ID) == []
    assert 45 <= len(voice.frames) <= 52
    assert all(len(frame) == 3840 for frame in voice.frames)
    samples = mono(voice.frames[5:-5])
    assert tone_power(samples, 440) > 0.3
    assert tone_power(samples, 1000) < 0.01


async def test_a_member_outside_voice_is_asked_to_join_first(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(CAROL, None)
    async with running_bot(fake_discord, voice_settings, connect_voice=connect_recording_voice):
        reply = await answer(await command(fake_discord, "play", user=CAROL, query=media.song))
    assert reply["content"] == "Join a voice channel first, then ask again."
    assert reply["flags"] & 64


async def test_a_member_in_another_voice_channel_is_told_where_the_bot_is(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    await fake_discord.join_voice(BRUNO, QUIET_ROOM)
    try:
        async with running_bot(
            fake_discord, voice_settings, connect_voice=connect_recording_voice
        ) as bot:
            await answer(await command(fake_discord, "play", query=media.long_song))
            for name, option in (("play", {"query": media.song}), ("say", {"text": "hi"})):
                reply = await answer(await command(fake_discord, name, user=BRUNO, **option))
                assert reply["content"] == f"I'm already in <#{VOICE}>: join me there.", name
                assert reply["flags"] & 64
            assert [t.title for t in await bot.services.music_queues.tracks(GUILD_ID)] == ["long"]
            assert fake_discord.bot_voice_channel == VOICE
    finally:
        await fake_discord.leave_voice(BRUNO)  # the fake Discord is shared by the tests


async def test_links_that_are_not_allowed_are_refused_and_nothing_is_queued(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    # An allowed host (localhost) that redirects to another (127.0.0.1, the same server).
    redirect = media.server.add_redirect("to-loopback", media.server.url("song.mp3", "127.0.0.1"))
    refused = [
        "https://example.com/song.mp3",  # a host not allowed: never fetched at all
        "file:///etc/passwd",
        media.server.url("song.mp3", "127.0.0.1"),
        redirect,
    ]
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        for link in refused:
            reply = await answer(await command(fake_discord, "play", query=link))
            assert reply["content"].startswith("I only play links from localhost."), link
            assert reply["flags"] & 64
        assert await bot.services.music_queues.tracks(GUILD_ID) == []
        assert bot.voice_players.get(GUILD_ID) is None or player(bot).voice is None
    assert "to-loopback" in media.server.requests  # followed, then refused on where it ended


async def test_a_page_of_a_hundred_audio_tags_queues_one_track(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    page = media.server.add_page("many", "Many songs", ["song.ogg"] + ["song.mp3"] * 99)
    before = len(media.server.requests)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        reply = await answer(await command(fake_discord, "play", query=page))
        assert reply["content"].startswith("▶️ Now playing [Many songs")
        [track] = await bot.services.music_queues.tracks(GUILD_ID)
        assert track.page_url == page  # the page is kept, never the stream URL
        await voice_of(bot).wait_for_frames(10)
        await fake_discord.wait_for_state(lambda: fake_discord.bot_voice_channel is None)
    fetched = media.server.requests[before:]
    assert fetched.count("song.ogg") >= 1
    assert fetched.count("song.mp3") == 0


async def test_queue_pages_pause_resume_skip_and_stop(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        await answer(await command(fake_discord, "play", query=media.long_song))
        reply = await answer(await command(fake_discord, "play", user=ALICE, query=media.song))
        assert reply["content"].startswith("➕ Queued [song]")
        assert reply["content"].endswith("at position 2.")
        for n in range(12):  # a long queue, straight into the store
            await bot.services.music_queues.add(
                GUILD_ID,
                Track.new(
                    title=f"filler {n + 3}",
                    page_url=media.song,
                    duration_seconds=60,
                    requester_id=BRUNO.id,
                ),
            )
        voice = voice_of(bot)
        await voice.wait_for_frames(25)

        embed = (await answer(await command(fake_discord, "queue")))["embeds"][0]
        now, upcoming = embed["fields"]
        assert now["name"] == "Now playing"
        assert now["value"].startswith("[long](")
        assert f"0:00 / unknown length · asked by <@{ALICE.id}>" in now["value"]
        lines = upcoming["value"].splitlines()
        assert len(lines) == 10
        assert lines[0].startswith("2. [song](")
        assert lines[-1].startswith("11. [filler 11](")
        assert embed["footer"]["text"] == "Page 1/2 · 14 tracks · 12:00 in all"
        second = (await answer(await command(fake_discord, "queue", page=2)))["embeds"][0]
        assert [line.split(" ")[0] for line in second["fields"][1]["value"].splitlines()] == [
            "12.",
            "13.",
            "14.",
        ]

        paused = await answer(await command(fake_discord, "pause"))
        assert paused["content"] == f"⏸️ <@{ALICE.id}> paused [long]({media.long_song})."
        assert voice.is_paused()
        embed = (await answer(await command(fake_discord, "queue")))["embeds"][0]
        assert embed["fields"][0]["name"] == "Paused"
        heard = len(voice.frames)
        resumed = await answer(await command(fake_discord, "resume"))
        assert resumed["content"].startswith(f"▶️ <@{ALICE.id}> resumed [long]")
        await voice.wait_for_frames(heard + 5)

        skipped = await answer(await command(fake_discord, "skip"))
        assert skipped["content"].startswith(f"⏭️ <@{ALICE.id}> skipped [long]")
        await eventually(lambda: _playing(bot, "song"))

        stopped = await answer(await command(fake_discord, "stop"))
        assert (
            stopped["content"]
            == f"⏹️ <@{ALICE.id}> stopped the music and cleared the queue (13 tracks)."
        )
        await fake_discord.wait_for_state(lambda: fake_discord.bot_voice_channel is None)
        assert await bot.services.music_queues.tracks(GUILD_ID) == []
        assert (await answer(await command(fake_discord, "queue")))["content"] == (
            "The queue is empty. Add a song with /play."
        )


async def _playing(bot: AzureBot, title: str) -> bool:
    now = player(bot).now
    return now is not None and now.track.title == title


@on_both_stores
async def test_the_queue_survives_a_restart_and_resume_carries_on(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        await answer(await command(fake_discord, "play", query=media.long_song))
        await answer(await command(fake_discord, "play", query=media.song_wav))
        await voice_of(bot).wait_for_frames(5)
    assert fake_discord.bot_voice_channel is None  # closing left the channel

    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        embed = (await answer(await command(fake_discord, "queue")))["embeds"][0]
        assert embed["fields"][0]["name"] == "Stopped (/resume carries on)"
        assert embed["fields"][0]["value"].startswith("[long](")
        assert embed["fields"][1]["value"].startswith("2. [song](")
        resumed = await answer(await command(fake_discord, "resume"))
        assert resumed["content"].startswith(f"▶️ <@{ALICE.id}> resumed [long]")
        voice = voice_of(bot)
        await voice.wait_for_frames(20)
        assert tone_power(mono(voice.frames[5:20]), 440) > 0.3


async def test_a_failing_source_is_reported_and_the_queue_moves_on(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        await answer(await command(fake_discord, "play", query=media.long_song))
        broken = await command(fake_discord, "play", query=media.broken)
        await answer(broken)
        await answer(await command(fake_discord, "play", query=media.song_ogg))
        await answer(await command(fake_discord, "skip"))
        notice = await broken.wait_for(
            lambda r: r["kind"] == "followup" and "couldn't be played" in r["payload"]["content"]
        )
        assert notice["message"]["flags"] & 64
        assert notice["payload"]["content"].startswith("broken couldn't be played")
        await eventually(lambda: _playing(bot, "song"))
