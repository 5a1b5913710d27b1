# The waiting helpers take a `timeout` argument on purpose, like the other fakes'.
# ruff: noqa: ASYNC109
"""A voice client that records what the bot would send to Discord's voice servers.

It speaks the gateway side of voice for real (op 4, then VOICE_STATE_UPDATE and
VOICE_SERVER_UPDATE from the fake Discord) and plays through discord.py's own `AudioPlayer`
thread, which reads the audio source every 20 ms exactly as it does for a real
`discord.VoiceClient`. Instead of encoding, encrypting and sending each frame over UDP, it
keeps the PCM: tests read it as audio. No libopus is needed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import discord
from discord.opus import OPUS_SILENCE
from discord.player import AudioPlayer
from discord.types.voice import GuildVoiceState, VoiceServerUpdate


class _SpeakingSocket:
    """Stands in for the voice websocket: AudioPlayer only tells it when it speaks."""

    def __init__(self) -> None:
        self.states: list[discord.SpeakingState] = []

    async def speak(self, state: discord.SpeakingState = discord.SpeakingState.voice) -> None:
        self.states.append(state)


class RecordingVoiceClient(discord.VoiceProtocol):
    timeout = 5.0

    def __init__(self, client: discord.Client, channel: discord.abc.Connectable) -> None:
        super().__init__(client, channel)
        self.loop = client.loop
        self.ws = _SpeakingSocket()
        self.session_id: str | None = None
        self.token: str | None = None
        self.endpoint: str | None = None
        self.frames: list[bytes] = []  # PCM frames, in the order they were "sent"
        self.frame_times: list[float] = []
        self.first_frame_at: float | None = None
        self._state_update = asyncio.Event()
        self._server_update = asyncio.Event()
        self._connected = threading.Event()
        self._leaving = False  # the bot asked to leave: the null voice state is expected
        self._player: AudioPlayer | None = None
        self._frame_lock = threading.Lock()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # -- the gateway side, for real -------------------------------------------------------

    async def on_voice_state_update(self, data: GuildVoiceState) -> None:
        # Typed as always set, but Discord sends null when the bot leaves (or is moved out).
        channel_id: int | str | None = data.get("channel_id")
        if channel_id is None:
            self._connected.clear()
            if not self._leaving:
                # Disconnected by someone else: discord.py's VoiceClient then stops its player
                # and cleans itself up, so the bot can connect again.
                self.stop()
                self.cleanup()
            return
        self.session_id = data["session_id"]
        current = cast(discord.abc.GuildChannel, self.channel)
        if self.is_connected() and int(channel_id) != current.id:
            # Moved by someone else: discord.py follows, and so does `channel`.
            moved_to = current.guild.get_channel(int(channel_id))
            self.channel = cast(discord.abc.Connectable, moved_to)
        self._state_update.set()

    async def on_voice_server_update(self, data: VoiceServerUpdate) -> None:
        self.token = data["token"]
        self.endpoint = data["endpoint"]
        self._server_update.set()

    async def connect(
        self, *, timeout: float, reconnect: bool, self_deaf: bool = False, self_mute: bool = False
    ) -> None:
        guild = cast(discord.abc.GuildChannel, self.channel).guild
        await guild.change_voice_state(
            channel=cast(discord.abc.Snowflake, self.channel),
            self_deaf=self_deaf,
            self_mute=self_mute,
        )
        async with asyncio.timeout(timeout):
            await self._state_update.wait()
            await self._server_update.wait()
        self._connected.set()

    async def disconnect(self, *, force: bool = False) -> None:
        self._leaving = True
        self.stop()
        guild = cast(discord.abc.GuildChannel, self.channel).guild
        await guild.change_voice_state(channel=None)
        self._connected.clear()
        self.cleanup()

    def is_connected(self) -> bool:
        return self._connected.is_set()

    def wait_until_connected(self, timeout: float | None = 30.0) -> bool:
        return self._connected.wait(timeout)

    # -- playing, with discord.py's own player thread -------------------------------------

    def play(
        self,
        source: discord.AudioSource,
        *,
        after: Callable[[Exception | None], Any] | None = None,
    ) -> None:
        if not self.is_connected():
            raise discord.ClientException("Not connected to voice.")
        if self.is_playing():
            raise discord.ClientException("Already playing audio.")
        # AudioPlayer uses only what this class defines: send_audio_packet, is_connected,
        # wait_until_connected, timeout, ws.speak and client.loop.
        self._player = AudioPlayer(source, cast(discord.VoiceClient, self), after=after)
        self._player.start()

    def is_playing(self) -> bool:
        return self._player is not None and self._player.is_playing()

    def is_paused(self) -> bool:
        return self._player is not None and self._player.is_paused()

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()
            self._player = None

    def pause(self) -> None:
        if self._player is not None:
            self._player.pause()

    def resume(self) -> None:
        if self._player is not None:
            self._player.resume()

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if not encode and data == OPUS_SILENCE:
            return  # the five silence frames the player sends when it stops or pauses
        now = time.perf_counter()
        with self._frame_lock:
            self.frames.append(data)
            self.frame_times.append(now)
            if self.first_frame_at is None:
                self.first_frame_at = now
        self.loop.call_soon_threadsafe(self._wake)

    # -- waiting --------------------------------------------------------------------------

    def _wake(self) -> None:
        for check, future in list(self._waiters):
            if not future.done() and check():
                future.set_result(None)

    async def wait_for(self, check: Callable[[], bool], timeout: float = 10) -> None:
        """Wait until `check()` holds, re-checked on every frame sent."""
        if check():
            return
        future: asyncio.Future[None] = self.loop.create_future()
        entry = (check, future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await future
        finally:
            self._waiters.remove(entry)

    async def wait_for_frames(self, count: int, timeout: float = 10) -> None:
        await self.wait_for(lambda: len(self.frames) >= count, timeout)

    def frames_since(self, start: int) -> list[bytes]:
        with self._frame_lock:
            return self.frames[start:]


async def connect_recording_voice(
    channel: discord.VoiceChannel | discord.StageChannel,
) -> RecordingVoiceClient:
    """The bot's voice connector for tests (see `AzureBot(connect_voice=...)`)."""
    return await channel.connect(cls=RecordingVoiceClient, self_deaf=True, timeout=5)
