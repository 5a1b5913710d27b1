"""Voice, the Discord side: libopus, connecting, FFmpeg, and the services' ports over them.

The player itself (`services/voice/voice_player.py`) and its mixer
(`services/voice/mixer.py`) know no
Discord type. This module plugs them in: `DiscordVoiceConnector` joins a channel with
discord.py's voice client and wraps it as a `VoiceOutput`, whose `play` hands discord.py's
player thread a `MixerAudioSource` (reading the mixer every 20 ms); `FFmpegAudio` opens the
streams and speech files as PCM sources.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import logging
import os
import shlex
import subprocess
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import discord

from commands.errors import UserFacingError
from commands.i18n import for_interaction
from services.voice.direct_audio import STREAM_PROTOCOLS, no_redirect_options
from services.voice.mixer import Mixer, PcmSource
from services.voice.music_source import ResolvedTrack
from services.voice.stage_voice import StageAccess, stage_access
from services.voice.voice_ports import JoinRefused, VoiceOutput

log = logging.getLogger(__name__)

# A cut connection is resumed instead of ending the song early.
RECONNECT = ("-reconnect", "1", "-reconnect_streamed", "1", "-reconnect_delay_max", "5")
MAX_SPEECH_SECONDS = 120
VOICE_CONNECT_TIMEOUT = 20.0

VoiceChannel = discord.VoiceChannel | discord.StageChannel


class DiscordVoiceClient(Protocol):
    """The part of `discord.VoiceClient` the output uses (the tests' recording client too)."""

    @property
    def channel(self) -> Any: ...

    def is_connected(self) -> bool: ...

    def is_playing(self) -> bool: ...

    def is_paused(self) -> bool: ...

    def play(
        self,
        source: discord.AudioSource,
        *,
        after: Callable[[Exception | None], Any] | None = None,
    ) -> None: ...

    def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    async def disconnect(self, *, force: bool = False) -> None: ...


VoiceConnect = Callable[[VoiceChannel], Awaitable[DiscordVoiceClient]]


class VoiceUnavailable(Exception):
    """This machine cannot send voice (no libopus to encode PCM)."""


def load_opus() -> bool:
    """Load libopus, which discord.py needs to encode what we play: the system's (Debian's
    libopus0 in Docker), else the copy bundled in the opuslib-next-bundled wheel."""
    if discord.opus.is_loaded():
        return True
    for candidate in (ctypes.util.find_library("opus"), _bundled_libopus()):
        if candidate is None:
            continue
        try:
            discord.opus.load_opus(candidate)
        except OSError:
            log.warning("found libopus at %s but could not load it", candidate)
            continue
        return True
    return False


def _bundled_libopus() -> str | None:
    # Found by its location, without importing the package's own Python bindings.
    spec = importlib.util.find_spec("opuslib_next")
    if spec is None or not spec.submodule_search_locations:
        return None
    library = Path(spec.submodule_search_locations[0]) / "_native" / "libopus.so"
    return str(library) if library.exists() else None


async def connect_discord_voice(channel: VoiceChannel) -> DiscordVoiceClient:
    """The production connector: discord.py's own voice client (DAVE, encryption, Opus)."""
    if not load_opus():
        raise VoiceUnavailable
    return await channel.connect(timeout=VOICE_CONNECT_TIMEOUT, self_deaf=True)


class MixerAudioSource(discord.AudioSource):
    """The services' mixer as discord.py's player thread reads it."""

    def __init__(self, mixer: Mixer) -> None:
        self.mixer = mixer

    def read(self) -> bytes:
        return self.mixer.read()

    def is_opus(self) -> bool:
        return False

    def cleanup(self) -> None:
        self.mixer.cleanup()


class DiscordVoiceOutput:
    """A connected voice client, as the player sees it (a `VoiceOutput` port)."""

    def __init__(self, client: DiscordVoiceClient) -> None:
        self.client = client

    @property
    def channel_id(self) -> int | None:
        channel = self.client.channel
        return channel.id if channel is not None else None

    def is_connected(self) -> bool:
        return self.client.is_connected()

    def is_playing(self) -> bool:
        return self.client.is_playing()

    def is_paused(self) -> bool:
        return self.client.is_paused()

    def play(self, mixer: Mixer, *, after: Callable[[Exception | None], None]) -> None:
        self.client.play(MixerAudioSource(mixer), after=after)

    def stop(self) -> None:
        self.client.stop()

    def pause(self) -> None:
        self.client.pause()

    def resume(self) -> None:
        self.client.resume()

    async def disconnect(self) -> None:
        await self.client.disconnect(force=True)


class DiscordVoiceConnector:
    """Joins a voice channel by id (`services.voice.voice_ports.VoiceConnector`).

    Built with the services, before the bot exists (the bot is built from them): the bot
    attaches itself, and channel ids are looked up in its cache from then on.
    """

    def __init__(self, connect: VoiceConnect) -> None:
        self._client: discord.Client | None = None
        self._connect = connect

    def attach(self, client: discord.Client) -> None:
        self._client = client

    async def connect(self, channel_id: int) -> VoiceOutput:
        channel = self._client.get_channel(channel_id) if self._client else None
        if not isinstance(channel, VoiceChannel):
            raise JoinRefused("connect_failed", channel_id)
        access = access_to(channel)
        if not access.may_play:
            raise JoinRefused("stage_not_allowed", channel_id)
        try:
            voice = await self._connect(channel)
        except VoiceUnavailable as error:
            raise JoinRefused("voice_unavailable", channel_id) from error
        except (TimeoutError, discord.ClientException) as error:
            log.warning("could not join voice channel %s: %r", channel_id, error)
            raise JoinRefused("connect_failed", channel_id) from error
        if access.action == "become_speaker":
            await _become_speaker(channel, voice)
        return DiscordVoiceOutput(voice)


def access_to(channel: VoiceChannel) -> StageAccess:
    """Whether (and how) the bot can be heard in `channel`, from the permissions in cache."""
    me = channel.guild.me
    return stage_access(
        stage=isinstance(channel, discord.StageChannel),
        mute_members=channel.permissions_for(me).mute_members,
    )


async def _become_speaker(channel: VoiceChannel, voice: DiscordVoiceClient) -> None:
    """Leave the stage's audience (PATCH /guilds/{id}/voice-states/@me, suppress false); if
    Discord refuses, leave the channel rather than play to nobody."""
    try:
        await channel.guild.me.edit(suppress=False)
    except (discord.HTTPException, discord.ClientException) as error:
        log.warning("could not become a speaker on stage %s: %r", channel.id, error)
        await voice.disconnect(force=True)
        raise JoinRefused("stage_not_allowed", channel.id) from error


class FFmpegPCMSource(discord.FFmpegPCMAudio):
    """discord.py's FFmpeg source, closing its pipe when cleaned up, its stderr in our log.

    discord.py 2.7 leaves FFmpeg's stdout to the garbage collector when FFmpeg has already
    exited, which leaks a file descriptor until then. FFmpeg's complaints (a source that is
    not audio, a cut connection) become WARNING lines of this module's log instead of raw
    output on the bot's stderr. (discord.py's own `stderr=` parameter is not used: its reader
    spins at end of file until the source is cleaned up.)
    """

    def _spawn_process(self, args: Any, **subprocess_kwargs: Any) -> subprocess.Popen[bytes]:
        # A pipe of our own rather than Popen's: discord.py's clean-up calls communicate(),
        # which would read (and close) a stderr it knew of under our reader thread.
        read_end, write_end = os.pipe()
        try:
            process: subprocess.Popen[bytes] = super()._spawn_process(
                args, **{**subprocess_kwargs, "stderr": write_end}
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # FFmpeg holds the only copy: the reader sees EOF when it ends
        threading.Thread(
            target=_log_ffmpeg_stderr,
            args=(read_end, process.pid),
            name=f"ffmpeg-stderr:{process.pid}",
            daemon=True,
        ).start()
        return process

    def cleanup(self) -> None:
        pipe = self._stdout
        super().cleanup()
        if pipe is not discord.utils.MISSING:
            pipe.close()


def _log_ffmpeg_stderr(fd: int, pid: int) -> None:
    """Log each line FFmpeg writes to stderr; ends (closing the pipe) when FFmpeg does."""
    with open(fd, "rb") as pipe:
        for line in pipe:
            if text := line.decode(errors="replace").strip():
                log.warning("ffmpeg %s: %s", pid, text)


class FFmpegAudio:
    """FFmpeg decoding to PCM: the services' `StreamOpener` and `SpeechOpener`."""

    def __init__(self, *, ffmpeg: str, max_stream_seconds: int) -> None:
        self._ffmpeg = ffmpeg
        self._max_stream_seconds = max_stream_seconds

    def open_stream(self, stream: ResolvedTrack) -> PcmSource:
        """A remote stream: reconnecting, whitelisted protocols, capped in length; a direct
        link's stream follows no redirect its checks did not see (where FFmpeg can tell)."""
        before = [*RECONNECT, "-protocol_whitelist", STREAM_PROTOCOLS]
        if not stream.follow_redirects:
            before += no_redirect_options(self._ffmpeg)
        if stream.http_headers:
            headers = "".join(f"{k}: {v}\r\n" for k, v in stream.http_headers.items())
            before += ["-headers", headers]
        return FFmpegPCMSource(
            stream.stream_url,
            executable=self._ffmpeg,
            before_options=shlex.join(before),
            options=shlex.join(["-vn", "-t", str(self._max_stream_seconds)]),
        )

    def open_speech(self, path: Path) -> PcmSource:
        return FFmpegPCMSource(
            str(path),
            executable=self._ffmpeg,
            before_options=shlex.join(["-protocol_whitelist", "file"]),
            options=shlex.join(["-vn", "-t", str(MAX_SPEECH_SECONDS)]),
        )


# -- what /play and /say share ---------------------------------------------------------------


def member_voice_channel_id(interaction: discord.Interaction) -> int | None:
    """The voice channel the member is in, if any."""
    member = interaction.user
    voice = member.voice if isinstance(member, discord.Member) else None
    return voice.channel.id if voice is not None and voice.channel is not None else None


def stage_refusal(interaction: discord.Interaction, channel_id: int | None) -> str | None:
    """The member's sentence when their channel is a stage the bot could not speak on (told
    before any work is done for them); None otherwise."""
    channel = interaction.client.get_channel(channel_id) if channel_id is not None else None
    if isinstance(channel, discord.StageChannel) and not access_to(channel).may_play:
        return for_interaction(interaction, "voice.stage_not_allowed", channel=mention(channel.id))
    return None


def mention(channel_id: int) -> str:
    return f"<#{channel_id}>"


def voice_refusal(
    interaction: discord.Interaction, reason: str, channel_id: int | None
) -> str | None:
    """The member's sentence when the bot cannot be in their voice channel (`JoinRefused`
    reasons, and not being in one at all); None for any other reason."""
    if reason == "not_in_voice":
        return for_interaction(interaction, "voice.join_first")
    if reason == "voice_unavailable":
        return for_interaction(interaction, "voice.unavailable")
    known = ("busy_elsewhere", "connect_failed", "stage_not_allowed")
    if reason in known and channel_id is not None:
        return for_interaction(interaction, f"voice.{reason}", channel=mention(channel_id))
    return None


def cannot_join(interaction: discord.Interaction, refused: JoinRefused) -> UserFacingError:
    return UserFacingError(voice_refusal(interaction, refused.reason, refused.channel_id))
