"""/play and friends end to end: the real bot, the fake Discord (gateway voice states included),
yt-dlp and FFmpeg on a loopback media server, and a voice client that records the PCM."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import discord
import pytest

from app.bot import AzureBot
from app.settings import Settings
from commands.voice_audio import DiscordVoiceOutput, load_opus
from services.store import SqliteStore
from services.voice.music_queue import MusicQueues, QueueDocuments, Track
from services.voice.voice_player import GuildPlayer
from tests.audio import mono, tone_power
from tests.conftest import Media, on_both_stores
from tests.fakes.discord_server import FakeDiscord, FakeInteraction, FakeUser
from tests.fakes.voice_client import RecordingVoiceClient, connect_recording_voice
from tests.fakes.voice_server import FakeVoiceServer
from tests.harness import (
    ALICE,
    BRUNO,
    CAROL,
    GENERAL,
    GUILD_ID,
    QUIET_ROOM,
    VOICE,
    eventually,
    process_environment,
    run_app,
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
        assert reply["content"].startswith("▶️ Now playing song")
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
        "https://example.com/watch?v=1",  # a host not allowed: never fetched at all
        "file:///etc/passwd",
        "file:///home/bot/song.mp3",
        media.server.url("page", "127.0.0.1"),
        redirect,  # yt-dlp (generic) follows it, and the page it ends on is not allowed
    ]
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice, generic_extractor=True
    ) as bot:
        for link in refused:
            reply = await answer(await command(fake_discord, "play", query=link))
            assert reply["content"] == (
                "I only play links from localhost, and direct links to audio files (.mp3, "
                ".ogg, .opus, .m4a, .flac, .wav). For anything else, type words to search."
            ), link
            assert reply["flags"] & 64
        assert await bot.services.music_queues.tracks(GUILD_ID) == []
        assert bot.voice_players.get(GUILD_ID) is None or player(bot).voice is None
    assert "to-loopback" in media.server.requests  # followed, then refused on where it ended


async def test_direct_links_into_the_private_network_need_the_operators_setting(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    before = len(media.server.requests)
    async with running_bot(
        fake_discord,
        voice_settings,
        connect_voice=connect_recording_voice,
        music_allow_private_network=False,  # the default
    ) as bot:
        for link in (media.song, media.server.url("song.mp3", "127.0.0.1")):
            reply = await answer(await command(fake_discord, "play", query=link))
            assert reply["content"] == (
                "That link leads to a private network address, which I don't play from."
            ), link
            assert reply["flags"] & 64
        assert await bot.services.music_queues.tracks(GUILD_ID) == []
        assert bot.voice_players.get(GUILD_ID) is None or player(bot).voice is None
    assert media.server.requests[before:] == []  # refused before anything was fetched


async def test_a_direct_link_plays_and_the_queue_shows_its_tags_or_its_file_name(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        reply = await answer(await command(fake_discord, "play", query=media.tagged))
        assert (
            reply["content"] == f"▶️ Now playing The Testers – Tagged Tone ({media.tagged}) (0:02)."
        )
        queued = await answer(await command(fake_discord, "play", query=media.song_wav))
        assert queued["content"] == f"➕ Queued song ({media.song_wav}) (0:01) at position 2."
        voice = voice_of(bot)
        await voice.wait_for_frames(10)
        embed = (await answer(await command(fake_discord, "queue")))["embeds"][0]
        now, upcoming = embed["fields"]
        assert now["name"] == "Now playing"
        assert now["value"].startswith(f"The Testers – Tagged Tone ({media.tagged})\n")
        assert upcoming["value"].startswith(f"2. song ({media.song_wav}) (0:01)")
        tracks = await bot.services.music_queues.tracks(GUILD_ID)
        assert [t.page_url for t in tracks] == [media.tagged, media.song_wav]  # the file URLs
        await voice.wait_for_frames(50)
        await answer(await command(fake_discord, "stop"))
    samples = mono(voice.frames[5:50])  # the tagged song's first second
    assert tone_power(samples, 440) > 0.3
    assert tone_power(samples, 1000) < 0.01


async def test_a_page_of_a_hundred_audio_tags_queues_one_track(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    page = media.server.add_page("many", "Many songs", ["song.ogg"] + ["song.mp3"] * 99)
    before = len(media.server.requests)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice, generic_extractor=True
    ) as bot:
        reply = await answer(await command(fake_discord, "play", query=page))
        assert reply["content"].startswith("▶️ Now playing Many songs")
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
        assert reply["content"].startswith("➕ Queued song")
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
        assert now["value"].startswith("long (")
        assert f"0:00 / 0:20 · asked by <@{ALICE.id}>" in now["value"]  # probed by FFmpeg
        lines = upcoming["value"].splitlines()
        assert len(lines) == 10
        assert lines[0].startswith("2. song (")
        assert lines[-1].startswith("11. filler 11 (")
        assert embed["footer"]["text"] == "Page 1/2 · 14 tracks · 12:21 in all"
        second = (await answer(await command(fake_discord, "queue", page=2)))["embeds"][0]
        assert [line.split(" ")[0] for line in second["fields"][1]["value"].splitlines()] == [
            "12.",
            "13.",
            "14.",
        ]

        paused = await answer(await command(fake_discord, "pause"))
        assert paused["content"] == f"⏸️ <@{ALICE.id}> paused long ({media.long_song})."
        assert voice.is_paused()
        embed = (await answer(await command(fake_discord, "queue")))["embeds"][0]
        assert embed["fields"][0]["name"] == "Paused"
        heard = len(voice.frames)
        resumed = await answer(await command(fake_discord, "resume"))
        assert resumed["content"].startswith(f"▶️ <@{ALICE.id}> resumed long")
        await voice.wait_for_frames(heard + 5)

        skipped = await answer(await command(fake_discord, "skip"))
        assert skipped["content"].startswith(f"⏭️ <@{ALICE.id}> skipped long")
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
        assert embed["fields"][0]["value"].startswith("long (")
        assert embed["fields"][1]["value"].startswith("2. song (")
        resumed = await answer(await command(fake_discord, "resume"))
        assert resumed["content"].startswith(f"▶️ <@{ALICE.id}> resumed long")
        voice = voice_of(bot)
        await voice.wait_for_frames(20)
        assert tone_power(mono(voice.frames[5:20]), 440) > 0.3


async def test_a_media_server_s_stream_link_plays_without_an_extension(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    media.server.add_file(
        "rest/stream", media.server.files["tagged.mp3"], content_type="audio/mpeg"
    )
    stream = media.server.url("rest/stream", "127.0.0.1") + "?id=7&u=alice&t=ab&s=cd&c=bot"
    settings = replace(voice_settings, music_media_hosts=("127.0.0.1",))
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(fake_discord, settings, connect_voice=connect_recording_voice) as bot:
        reply = await answer(await command(fake_discord, "play", query=stream))
        assert reply["content"].startswith("▶️ Now playing The Testers – Tagged Tone")
        voice = voice_of(bot)
        await voice.wait_for_frames(20)
        assert tone_power(mono(voice.frames[5:20]), 440) > 0.3


async def test_a_failing_source_is_reported_and_the_queue_moves_on(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    # A page whose <audio> yt-dlp takes without opening it: FFmpeg fails on it when it plays.
    page = media.server.add_page("broken-page", "A broken page", ["broken.mp3"])
    # A direct link, fine when queued, broken by its turn: checked again before it plays.
    changing = media.server.add_file("changing.mp3", media.server.files["song.mp3"])
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice, generic_extractor=True
    ) as bot:
        await answer(await command(fake_discord, "play", query=media.long_song))
        broken = await command(fake_discord, "play", query=page)
        await answer(broken)
        later = await command(fake_discord, "play", query=changing)
        assert (await answer(later))["content"].startswith("➕ Queued changing")
        media.server.files["changing.mp3"] = media.server.files["broken.mp3"]
        await answer(await command(fake_discord, "play", query=media.song_ogg))
        await answer(await command(fake_discord, "skip"))
        for interaction, title in ((broken, "A broken page"), (later, "changing")):
            notice = await interaction.wait_for(
                lambda r: (
                    r["kind"] == "followup" and "couldn't be played" in r["payload"]["content"]
                )
            )
            assert notice["message"]["flags"] & 64
            assert notice["payload"]["content"].startswith(title)
        await eventually(lambda: _playing(bot, "song"))


@pytest.fixture
async def voice_server(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeVoiceServer]:
    """The fake Discord voice server, where the fake Discord sends the bot (for a bot in
    another process: it trusts the server's CA through SSL_CERT_FILE)."""
    server = FakeVoiceServer(heartbeat_interval_ms=200)
    await server.start()
    monkeypatch.setattr(fake_discord, "voice_endpoint", server.endpoint)
    try:
        yield server
    finally:
        await server.stop()


async def test_the_bot_process_plays_a_direct_link_from_the_private_network(
    fake_discord: FakeDiscord,
    settings: Settings,
    media: Media,
    voice_server: FakeVoiceServer,
    tmp_path: Path,
) -> None:
    """`python -m app` as an operator runs it, with MUSIC_ALLOW_PRIVATE_NETWORK on: a direct
    link to the loopback media server is played through discord.py's real voice client."""
    assert load_opus()  # to decode what the bot sends
    ca_file = tmp_path / "voice-ca.pem"
    ca_file.write_bytes(voice_server.ca_pem)
    env = process_environment(
        settings,
        fake_discord,
        MUSIC_ALLOW_PRIVATE_NETWORK="true",
        SSL_CERT_FILE=str(ca_file),
        LOG_LEVEL="WARNING",  # its stderr is read at the end: keep it well under a pipe's size
    )
    await fake_discord.join_voice(ALICE, VOICE)
    process = await run_app(env)
    try:
        await fake_discord.wait_for_state(lambda: fake_discord.connected, timeout=30)
        reply = await answer(await command(fake_discord, "play", query=media.long_song))
        assert reply["content"] == f"▶️ Now playing long ({media.long_song}) (0:20)."
        request = fake_discord.voice_state_requests[-1]  # op 4, from the process
        assert (int(request["channel_id"]), request["self_deaf"]) == (VOICE, True)
        await voice_server.wait_for(lambda: len(voice_server.packets) >= 30, what="RTP packets")
        assert voice_server.identifies[-1]["server_id"] == str(GUILD_ID)
    finally:
        process.send_signal(signal.SIGTERM)  # a clean stop, as `docker stop` does
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-2000:]
    assert fake_discord.bot_voice_channel is None  # stopping left the channel
    # The sound that reached the voice server, decrypted and decoded: the song's 440 Hz.
    decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
    pcm = [decoder.decode(frame, fec=False) for frame in voice_server.opus_frames()[:30]]
    assert tone_power(mono(pcm[5:]), 440) > 0.3
    # The queue the process wrote keeps the member's link, to carry on after the restart.
    store = SqliteStore(settings.data_dir)
    try:
        tracks = await MusicQueues(QueueDocuments(store), max_length=10).tracks(GUILD_ID)
    finally:
        await store.close()
    assert [(t.title, t.page_url, t.requester_id) for t in tracks] == [
        ("long", media.long_song, ALICE.id)
    ]


async def test_a_full_queue_of_long_titles_and_links_is_shown_page_by_page(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    # 50 entries (MUSIC_MAX_QUEUE's default) as long as YouTube makes them: a 100-character
    # title full of markdown, and a long link. Discord refuses a field over 1,024 characters.
    async with running_bot(fake_discord, settings) as bot:
        for n in range(50):
            await bot.services.music_queues.add(
                GUILD_ID,
                Track.new(
                    title=f"{n:02d} *Official* _Video_ [HD] " + "ã" * 70,
                    page_url=f"https://www.youtube.com/watch?v={n:011d}&list=" + "P" * 300,
                    duration_seconds=215,
                    requester_id=BRUNO.id,
                ),
            )
        positions: list[str] = []
        page, pages = 1, 1
        while page <= pages:
            interaction = await command(fake_discord, "queue", page=page)
            embed = (await answer(interaction))["embeds"][0]
            assert interaction.refusals == []
            assert len(embed["fields"][1]["value"]) <= 1024
            pages = int(embed["footer"]["text"].split(" ")[1].split("/")[1])
            positions += [line.split(".")[0] for line in embed["fields"][1]["value"].splitlines()]
            page += 1
        assert pages > 5  # more than ten entries a page would not fit
        assert positions == [str(n) for n in range(2, 51)]


async def test_queue_shows_titles_as_plain_text_and_links_without_their_keys(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media
) -> None:
    hostile = Track.new(
        title="[Official free Nitro](https://phish.example/claim) @everyone",
        page_url=media.server.url("song.mp3") + "?api_key=SECRET-KEY",
        duration_seconds=1,
        requester_id=ALICE.id,
    )
    async with running_bot(fake_discord, voice_settings) as bot:
        await bot.services.music_queues.add(GUILD_ID, hostile)
        try:
            message = await answer(await command(fake_discord, "queue"))
        finally:
            await bot.services.music_queues.clear(GUILD_ID)
    shown = message["embeds"][0]["fields"][0]["value"]
    assert shown.startswith(
        r"\[Official free Nitro\]\(https\://phish.example/claim\) \@everyone "
        f"({media.server.url('song.mp3')})"
    )
    assert "SECRET-KEY" not in json.dumps(message)
