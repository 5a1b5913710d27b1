"""What the bot plays in a voice channel: the audio sources and one player per guild.

Each guild has one `GuildPlayer`, shared by `/play` and `/say`. It hands the voice client a
single `MixingSource`, which reads the current track and any speech frame by frame and mixes
them (speech over ducked music, `services.audio_mix`). Everything here runs on the event loop
except `MixingSource.read`, which discord.py's player thread calls every 20 ms; the thread
reports ends back to the loop with `run_coroutine_threadsafe`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes.util
import importlib.util
import logging
import os
import shlex
import subprocess
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import discord

from commands.errors import UserFacingError
from commands.i18n import for_interaction
from services.audio_mix import FRAME_MS, SILENCE, Ducker
from services.music_queue import MusicQueues, Track
from services.music_source import MusicRefused, MusicResolver, ResolvedTrack

log = logging.getLogger(__name__)

# FFmpeg may only speak these protocols to fetch a stream: no file://, no concat, no data:.
STREAM_PROTOCOLS = "http,https,tls,tcp,crypto"
# A cut connection is resumed instead of ending the song early.
RECONNECT = ("-reconnect", "1", "-reconnect_streamed", "1", "-reconnect_delay_max", "5")
MAX_SPEECH_SECONDS = 120
VOICE_CONNECT_TIMEOUT = 20.0

VoiceChannel = discord.VoiceChannel | discord.StageChannel
EndCallback = Callable[[int], None]  # called on the player thread with the frames played


class VoiceOutput(Protocol):
    """The part of `discord.VoiceClient` the player uses."""

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


VoiceConnect = Callable[[VoiceChannel], Awaitable[VoiceOutput]]


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


async def connect_discord_voice(channel: VoiceChannel) -> VoiceOutput:
    """The production connector: discord.py's own voice client (DAVE, encryption, Opus)."""
    if not load_opus():
        raise VoiceUnavailable
    return await channel.connect(timeout=VOICE_CONNECT_TIMEOUT, self_deaf=True)


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


def stream_source(ffmpeg: str, stream: ResolvedTrack, max_seconds: int) -> discord.AudioSource:
    """FFmpeg decoding a remote stream to PCM: reconnecting, whitelisted, capped in length."""
    before = [*RECONNECT, "-protocol_whitelist", STREAM_PROTOCOLS]
    if stream.http_headers:
        before += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in stream.http_headers.items())]
    return FFmpegPCMSource(
        stream.stream_url,
        executable=ffmpeg,
        before_options=shlex.join(before),
        options=shlex.join(["-vn", "-t", str(max_seconds)]),
    )


def file_source(ffmpeg: str, path: Path) -> discord.AudioSource:
    return FFmpegPCMSource(
        str(path),
        executable=ffmpeg,
        before_options=shlex.join(["-protocol_whitelist", "file"]),
        options=shlex.join(["-vn", "-t", str(MAX_SPEECH_SECONDS)]),
    )


@dataclass
class _Slot:
    source: discord.AudioSource
    on_end: EndCallback
    frames: int = 0


class MixingSource(discord.AudioSource):
    """Music and speech read together, 20 ms at a time, into one PCM stream.

    Sources are read outside the lock (a stalled stream must never block the event loop,
    which swaps sources under it). A source that returns no data is finished: its callback
    gets the number of frames it gave. With neither music nor speech left the mixer ends,
    and the voice client's player with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._music: _Slot | None = None
        self._music_paused = False
        self._speech: deque[_Slot] = deque()
        self._ducker = Ducker()
        self._ended = False

    def is_opus(self) -> bool:
        return False

    @property
    def music_seconds(self) -> float:
        slot = self._music
        return slot.frames * FRAME_MS / 1000 if slot else 0.0

    @property
    def speaking(self) -> bool:
        return bool(self._speech)

    def set_music(self, source: discord.AudioSource, on_end: EndCallback) -> bool:
        """Play `source` as the music from the next frame; False if the mixer has ended."""
        with self._lock:
            if self._ended:
                return False
            old, self._music = self._music, _Slot(source, on_end)
            self._music_paused = False
        if old is not None:
            old.source.cleanup()
        return True

    def remove_music(self) -> None:
        """Drop the music without reporting its end (a skip or a stop)."""
        with self._lock:
            old, self._music = self._music, None
        if old is not None:
            old.source.cleanup()

    def pause_music(self, paused: bool) -> None:
        self._music_paused = paused

    def add_speech(self, source: discord.AudioSource, on_end: EndCallback) -> bool:
        """Say `source` after any speech already queued; False if the mixer has ended."""
        with self._lock:
            if self._ended:
                return False
            self._speech.append(_Slot(source, on_end))
        return True

    def read(self) -> bytes:
        with self._lock:
            music = None if self._music_paused else self._music
            speech = self._speech[0] if self._speech else None
        music_frame = music.source.read() if music else None
        speech_frame = speech.source.read() if speech else None
        finished: list[_Slot] = []
        with self._lock:
            if music is not None:
                if music_frame:
                    music.frames += 1
                elif self._music is music:  # not swapped out meanwhile
                    self._music = None
                    finished.append(music)
            if speech is not None and not speech_frame and self._speech[0] is speech:
                self._speech.popleft()
                finished.append(speech)
            if self._music is None and not self._speech and not music_frame and not speech_frame:
                self._ended = True
        for slot in finished:
            slot.source.cleanup()
            slot.on_end(slot.frames)
        if self._ended:
            return b""
        if self._music_paused and not speech_frame:
            return SILENCE
        return self._ducker.mix(music_frame or None, speech_frame or None)

    def cleanup(self) -> None:
        with self._lock:
            self._ended = True
            slots = [*([self._music] if self._music else []), *self._speech]
            self._music = None
            self._speech.clear()
        for slot in slots:
            slot.source.cleanup()


class BusyElsewhere(Exception):
    def __init__(self, channel: Any) -> None:
        super().__init__(f"already connected to {channel}")
        self.channel = channel


class RequestNotices:
    """Who asked for which track, so that a track failing later is reported to them.

    An interaction can be followed up for 15 minutes; older ones just fail to send (logged).
    """

    def __init__(self, *, keep: int = 200) -> None:
        self._keep = keep
        self._interactions: dict[str, discord.Interaction] = {}

    def remember(self, track: Track, interaction: discord.Interaction) -> None:
        self._interactions[track.entry_id] = interaction
        while len(self._interactions) > self._keep:  # dicts keep insertion order
            del self._interactions[next(iter(self._interactions))]

    async def send(self, track: Track, key: str, **values: Any) -> None:
        interaction = self._interactions.pop(track.entry_id, None)
        if interaction is None:
            log.info("track %r: %s (nobody to tell)", track.title, key)
            return
        try:
            await interaction.followup.send(
                for_interaction(interaction, key, **values),
                ephemeral=True,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException:
            log.info("could not tell user %s that %r failed", interaction.user.id, track.title)


@dataclass
class Playback:
    track: Track
    mixer: MixingSource
    paused: bool = False

    @property
    def elapsed_seconds(self) -> float:
        return self.mixer.music_seconds


@dataclass
class GuildPlayer:
    guild_id: int
    queues: MusicQueues
    resolver: MusicResolver
    connect: VoiceConnect
    ffmpeg: str
    idle_seconds: float
    notices: RequestNotices
    voice: VoiceOutput | None = None
    now: Playback | None = None
    _mixer: MixingSource | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _idle: asyncio.Task[None] | None = None
    _alone: asyncio.Task[None] | None = None  # leaving a channel with no human left in it
    _paused_alone: bool = False  # paused because nobody was left, not by a member

    # -- the voice connection -------------------------------------------------------------

    @property
    def connected_channel(self) -> Any:
        return self.voice.channel if self.voice and self.voice.is_connected() else None

    def check_channel(self, channel: VoiceChannel) -> None:
        """Raise `BusyElsewhere` if the bot is in another voice channel of the guild."""
        current = self.connected_channel
        if current is not None and current.id != channel.id:
            raise BusyElsewhere(current)

    async def join(self, channel: VoiceChannel) -> None:
        self.check_channel(channel)
        if self.connected_channel is None:
            self.voice = await self.connect(channel)

    async def leave(self) -> None:
        self._cancel_idle()
        self._cancel_alone()
        voice, self.voice = self.voice, None
        self.now, self._mixer = None, None
        if voice is not None:
            voice.stop()
            await voice.disconnect(force=True)

    async def lost_connection(self) -> None:
        """Someone else disconnected the bot: stop cleanly; the queue stays for /play or /resume.

        Disconnecting again is harmless and makes sure the voice client is cleaned up before
        the next /play connects.
        """
        log.info("guild %s: disconnected from voice by someone else", self.guild_id)
        await self.leave()

    def company_changed(self, listeners: bool) -> None:
        """Whether a human is in the bot's channel now: with nobody left, pause and leave after
        the idle time (the queue stays); when someone comes back first, carry on."""
        if self.voice is None:
            return
        if listeners:
            paused_alone = self._paused_alone
            self._cancel_alone()
            if paused_alone:
                self._unpause()
        elif self._alone is None:
            if self.now is not None and not self.now.paused:
                self.pause()
                self._paused_alone = True
            self._alone = asyncio.create_task(self._leave_when_alone())
            self._alone.add_done_callback(_log_failure)

    async def _leave_when_alone(self) -> None:
        await asyncio.sleep(self.idle_seconds)
        log.info("guild %s: alone for %.0f s, leaving voice", self.guild_id, self.idle_seconds)
        await self.leave()

    # -- music ----------------------------------------------------------------------------

    async def play_queue(self, fresh: ResolvedTrack | None = None) -> None:
        """Start the head of the queue unless a track is already playing.

        `fresh` is the head just resolved by `/play`, reused rather than resolved twice.
        """
        async with self._lock:
            if self.now is not None or self.voice is None:
                return
            while (track := await self.queues.head(self.guild_id)) is not None:
                try:
                    if fresh is not None and fresh.page_url == track.page_url:
                        stream = fresh
                    else:
                        stream = await self.resolver.resolve_page(track.page_url)
                    source = stream_source(self.ffmpeg, stream, self.resolver.max_seconds)
                except MusicRefused as refusal:
                    log.info("guild %s: skipping %r: %s", self.guild_id, track.title, refusal)
                    await self.notices.send(track, "music.source_failed", title=_plain(track.title))
                    await self.queues.finish(self.guild_id, track.entry_id)
                    fresh = None
                    continue
                self._start_music(track, source)
                return
        self._schedule_idle_leave()

    def _start_music(self, track: Track, source: discord.AudioSource) -> None:
        self._cancel_idle()
        loop = asyncio.get_running_loop()
        holder: list[Playback] = []

        def ended(frames: int) -> None:  # player thread
            _from_player_thread(self._music_ended(holder[0], frames), loop)

        mixer = self._mixer
        if mixer is None or not mixer.set_music(source, ended):
            mixer = MixingSource()
            mixer.set_music(source, ended)
            self._play_mixer(mixer)
        holder.append(Playback(track, mixer))
        self.now = holder[0]
        self._resume_output()

    async def _music_ended(self, playback: Playback, frames: int) -> None:
        if self.now is not playback:  # skipped or stopped meanwhile
            return
        self.now = None
        if frames == 0:
            title = _plain(playback.track.title)
            await self.notices.send(playback.track, "music.source_failed", title=title)
        await self.queues.finish(self.guild_id, playback.track.entry_id)
        await self.play_queue()

    async def skip(self) -> Track | None:
        """Drop the current track (or the head of a stopped queue) and carry on."""
        playback, self.now = self.now, None
        if playback is not None:
            playback.mixer.remove_music()
            track: Track | None = playback.track
        else:
            track = await self.queues.head(self.guild_id)
        if track is not None:
            await self.queues.finish(self.guild_id, track.entry_id)
            self._carry_on()
        return track

    def _carry_on(self) -> None:
        # Resolving the next track may take seconds: the command has answered already.
        task = asyncio.create_task(self.play_queue())
        task.add_done_callback(_log_failure)

    async def stop(self) -> int:
        """Clear the queue and leave the channel; returns how many tracks were dropped."""
        dropped = await self.queues.clear(self.guild_id)
        await self.leave()
        return dropped

    def pause(self) -> Track | None:
        playback = self.now
        if playback is None:
            return None
        playback.paused = True
        playback.mixer.pause_music(True)
        if not playback.mixer.speaking and self.voice is not None:
            self.voice.pause()  # no silence frames while nothing is heard
        return playback.track

    async def resume(self, channel: VoiceChannel) -> Track | None:
        """Un-pause, or carry on with the stored queue (after a restart or an idle leave)."""
        if self.now is not None:
            return self._unpause()
        head = await self.queues.head(self.guild_id)
        if head is not None:
            await self.join(channel)
            await self.play_queue()
        return head

    def _unpause(self) -> Track | None:
        playback = self.now
        if playback is None:
            return None
        playback.paused = False
        playback.mixer.pause_music(False)
        self._resume_output()
        return playback.track

    # -- speech ---------------------------------------------------------------------------

    async def speak(self, channel: VoiceChannel, speech: Path) -> None:
        """Say the audio file `speech` now, over the music if any."""
        await self.join(channel)
        self._cancel_idle()
        source = file_source(self.ffmpeg, speech)
        loop = asyncio.get_running_loop()

        def ended(frames: int) -> None:  # player thread
            _from_player_thread(self._speech_ended(), loop)

        mixer = self._mixer
        if mixer is None or not mixer.add_speech(source, ended):
            mixer = MixingSource()
            mixer.add_speech(source, ended)
            self._play_mixer(mixer)
        self._resume_output()

    async def _speech_ended(self) -> None:
        mixer = self._mixer
        if mixer is not None and mixer.speaking:
            return
        if self.now is not None and self.now.paused and self.voice is not None:
            self.voice.pause()
        elif self.now is None:
            self._schedule_idle_leave()

    # -- plumbing -------------------------------------------------------------------------

    def _play_mixer(self, mixer: MixingSource) -> None:
        """Hand `mixer` (already holding a source: an empty one ends at once) to the voice."""
        assert self.voice is not None, "join a channel before playing"
        voice = self.voice
        if voice.is_playing() or voice.is_paused():
            voice.stop()  # the previous mixer has ended; its player may not have noticed yet
        loop = asyncio.get_running_loop()

        def finished(error: Exception | None) -> None:  # player thread
            _from_player_thread(self._mixer_finished(mixer, error), loop)

        voice.play(mixer, after=finished)
        self._mixer = mixer

    async def _mixer_finished(self, mixer: MixingSource, error: Exception | None) -> None:
        if error is not None:
            log.error("guild %s: the voice player failed", self.guild_id, exc_info=error)
            if self.now is not None and self.now.mixer is mixer:
                self.now = None
                self._schedule_idle_leave()
        if self._mixer is mixer:
            self._mixer = None

    def _resume_output(self) -> None:
        if self.voice is not None and self.voice.is_paused():
            self.voice.resume()

    def _schedule_idle_leave(self) -> None:
        self._cancel_idle()
        if self.voice is not None:
            self._idle = asyncio.create_task(self._leave_when_idle())

    def _cancel_idle(self) -> None:
        if self._idle is not None and self._idle is not asyncio.current_task():
            self._idle.cancel()
        self._idle = None

    def _cancel_alone(self) -> None:
        if self._alone is not None and self._alone is not asyncio.current_task():
            self._alone.cancel()
        self._alone = None
        self._paused_alone = False

    async def _leave_when_idle(self) -> None:
        await asyncio.sleep(self.idle_seconds)
        mixer = self._mixer
        if self.now is None and not (mixer is not None and mixer.speaking):
            log.info("guild %s: idle for %.0f s, leaving voice", self.guild_id, self.idle_seconds)
            await self.leave()


def _log_failure(task: asyncio.Future[None] | concurrent.futures.Future[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("the voice player failed", exc_info=error)


def _from_player_thread(work: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop) -> None:
    """Hand `work` to the event loop (the player thread must not do async work itself)."""
    try:
        future = asyncio.run_coroutine_threadsafe(work, loop)
    except RuntimeError:
        # The loop closed first (the bot is shutting down): nothing is left to tell.
        work.close()
        return
    future.add_done_callback(_log_failure)


class VoicePlayers:
    """One `GuildPlayer` per guild, built on first use."""

    def __init__(
        self,
        *,
        queues: MusicQueues,
        resolver: MusicResolver,
        connect: VoiceConnect,
        ffmpeg: str,
        idle_seconds: float,
    ) -> None:
        self._queues = queues
        self._resolver = resolver
        self._connect = connect
        self._ffmpeg = ffmpeg
        self._idle_seconds = idle_seconds
        self._players: dict[int, GuildPlayer] = {}
        self.notices = RequestNotices()

    def get(self, guild_id: int) -> GuildPlayer | None:
        return self._players.get(guild_id)

    def for_guild(self, guild_id: int) -> GuildPlayer:
        player = self._players.get(guild_id)
        if player is None:
            player = GuildPlayer(
                guild_id=guild_id,
                queues=self._queues,
                resolver=self._resolver,
                connect=self._connect,
                ffmpeg=self._ffmpeg,
                idle_seconds=self._idle_seconds,
                notices=self.notices,
            )
            self._players[guild_id] = player
        return player

    def now_playing(self) -> str | None:
        """The title of a track playing (not paused) in any guild, for the presence line."""
        for player in self._players.values():
            if player.now is not None and not player.now.paused:
                return player.now.track.title
        return None

    async def close(self) -> None:
        for player in self._players.values():
            with contextlib.suppress(Exception):
                await player.leave()


# -- what /play and /say share ---------------------------------------------------------------


def member_voice_channel(interaction: discord.Interaction) -> VoiceChannel:
    """The voice channel the member is in, or the sentence asking them to join one."""
    member = interaction.user
    voice = member.voice if isinstance(member, discord.Member) else None
    if voice is None or voice.channel is None:
        raise UserFacingError(for_interaction(interaction, "voice.join_first"))
    return voice.channel


def busy_elsewhere(interaction: discord.Interaction, error: BusyElsewhere) -> UserFacingError:
    return UserFacingError(
        for_interaction(interaction, "voice.busy_elsewhere", channel=error.channel.mention)
    )


async def join_member_channel(
    interaction: discord.Interaction, player: GuildPlayer, channel: VoiceChannel
) -> None:
    """Join `channel` for the member, turning each way it can fail into their sentence."""
    try:
        await player.join(channel)
    except BusyElsewhere as error:
        raise busy_elsewhere(interaction, error) from error
    except VoiceUnavailable as error:
        raise UserFacingError(for_interaction(interaction, "voice.unavailable")) from error
    except (TimeoutError, discord.ClientException) as error:
        log.warning("could not join voice channel %s: %r", channel.id, error)
        raise UserFacingError(
            for_interaction(interaction, "voice.connect_failed", channel=channel.mention)
        ) from error


def _plain(title: str) -> str:
    return discord.utils.escape_markdown(title)
