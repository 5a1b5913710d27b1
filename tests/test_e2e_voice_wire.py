"""Sound really leaves the bot: discord.py's own VoiceClient, as in production, connects to a
fake Discord voice server (websocket over TLS, then UDP), and the Opus RTP packets it sends
are decrypted and decoded back to the song."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp.connector
import discord
import pytest

from app.settings import Settings
from commands.voice_audio import DiscordVoiceOutput, load_opus
from tests.audio import mono, tone_power
from tests.conftest import Media
from tests.fakes.discord_server import FakeDiscord, FakeInteraction
from tests.fakes.voice_server import MODE, FakeVoiceServer
from tests.harness import ALICE, BOT, GENERAL, GUILD_ID, VOICE, running_bot

JSON = dict[str, Any]
PACKETS = 25  # half a second of 20 ms frames
VOICE_TASKS = {"Voice connector", "Voice websocket poller"}
VOICE_THREADS = ("voice-socket-reader:", "voice-keep-alive-handler:", "audio-player:")


@pytest.fixture
async def voice_server(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeVoiceServer]:
    """The fake voice server, where the fake Discord sends the bot, trusted by the bot.

    discord.py always connects to ``wss://{endpoint}``, through its aiohttp session with the
    default (verifying) SSL context, which aiohttp makes once, when imported, from the
    system's trust store. That context is replaced by one trusting the fake's CA for the
    test, as ``SSL_CERT_FILE`` would have made it: certificates are still verified, host name
    included, and discord.py's code path stays the production one.
    """
    server = FakeVoiceServer(heartbeat_interval_ms=200)  # a heartbeat within the test
    await server.start()
    monkeypatch.setattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", server.client_ssl_context())
    monkeypatch.setattr(fake_discord, "voice_endpoint", server.endpoint)
    try:
        yield server
    finally:
        await server.stop()


async def command(fake: FakeDiscord, name: str, **options: str) -> FakeInteraction:
    return await fake.send_interaction(
        name,
        user=ALICE,
        channel_id=GENERAL,
        options=[{"name": k, "type": 3, "value": v} for k, v in options.items()],
    )


async def answer(interaction: FakeInteraction) -> JSON:
    response = await interaction.wait_for_response()
    return cast(JSON, response["message"])


def voice_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(VOICE_THREADS)}


async def ended(threads: set[threading.Thread]) -> list[str]:
    """The names of the threads still running once each had a few seconds to end."""
    for thread in threads:
        await asyncio.to_thread(thread.join, 5)
    return [t.name for t in threads if t.is_alive()]


async def test_the_real_voice_client_sends_the_song_encrypted_over_udp(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media, voice_server: FakeVoiceServer
) -> None:
    assert load_opus()
    threads_before = voice_threads()
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(fake_discord, voice_settings) as bot:
        reply = await answer(await command(fake_discord, "play", query=media.long_song))
        assert reply["content"].startswith("▶️ Now playing long")
        player = bot.voice_players.get(GUILD_ID)
        assert player is not None
        assert isinstance(player.voice, DiscordVoiceOutput)
        voice = player.voice.client
        assert isinstance(voice, discord.VoiceClient)  # production's, not a test double

        await voice_server.wait_for(
            lambda: len(voice_server.packets) >= PACKETS, what=f"{PACKETS} RTP packets"
        )
        # The handshake was Discord's: identified with the gateway's session, DAVE offered...
        (identify,) = voice_server.identifies
        assert identify["server_id"] == str(GUILD_ID)
        assert identify["user_id"] == str(BOT.id)
        assert identify["session_id"] and identify["token"]
        assert identify["max_dave_protocol_version"] >= 1  # davey is there: DAVE is offered
        # ... UDP discovery from the socket the audio then came from, and the strongest mode.
        (selected,) = voice_server.selected_protocols
        assert selected["protocol"] == "udp"
        assert selected["data"]["mode"] == MODE
        assert (selected["data"]["address"], selected["data"]["port"]) == (
            voice_server.discoveries[-1]
        )
        assert voice_server.speaking[-1]["ssrc"] == voice_server.ssrc
        assert voice_server.speaking[-1]["speaking"] == int(discord.SpeakingState.voice)
        # Heartbeats carry the seq of the last message the client received (v8).
        await voice_server.wait_for(
            lambda: any(
                beat["seq_ack"] >= voice_server.session_description_seq
                for beat, _ in voice_server.heartbeats
            ),
            what="a heartbeat acknowledging the session description",
        )
        assert all(0 < beat["seq_ack"] <= sent for beat, sent in voice_server.heartbeats)
        packets = sorted(voice_server.packets, key=lambda p: p.sequence)
        assert all(p.ssrc == voice_server.ssrc for p in packets)
        assert [p.timestamp - packets[0].timestamp for p in packets[:PACKETS]] == [
            960 * n for n in range(PACKETS)
        ]

        stopped = await answer(await command(fake_discord, "stop"))
        assert stopped["content"].startswith(f"⏹️ <@{ALICE.id}> stopped the music")
        await fake_discord.wait_for_state(
            lambda: fake_discord.bot_voice_channel is None, what="the bot to leave"
        )
        await voice_server.wait_for(
            lambda: voice_server.open_sockets == 0, what="the voice websocket to close"
        )
        assert voice_server.close_codes == [1000]  # closed by the bot, normally
        assert not voice.is_connected()
        assert voice._connection.socket.fileno() == -1  # its UDP socket is closed
        # discord.py's UDP reader thread is told to end; it does when its select() on the
        # closed socket times out (30 s): not waited for here.
        reader = voice._connection._socket_reader
        assert reader._end.is_set()

    # Decrypted with the session's key and decoded with libopus: the song, 440 Hz, is there.
    frames = voice_server.opus_frames()
    assert len(frames) >= PACKETS
    decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
    pcm = [decoder.decode(frame, fec=False) for frame in frames]
    assert all(len(p) == 3840 for p in pcm)  # 20 ms of 48 kHz stereo s16le
    samples = mono(pcm[5:PACKETS])
    assert tone_power(samples, 440) > 0.3
    assert tone_power(samples, 1000) < 0.01
    # No voice task is left, and the player's and the heartbeat's threads have ended.
    assert not [t for t in asyncio.all_tasks() if t.get_name() in VOICE_TASKS]
    assert await ended(voice_threads() - threads_before - {reader}) == []
