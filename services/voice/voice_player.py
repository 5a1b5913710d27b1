"""One player per guild, shared by `/play` and `/say`, and the registry that holds them.

A `GuildPlayer` owns the guild's voice connection and hands it a single `Mixer`, which reads
the current track and any speech frame by frame. Everything here runs on the event loop
except the mixer's end callbacks and the output's `after`, which run on the voice client's
player thread and hop back to the loop with `run_coroutine_threadsafe`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.background import BackgroundTasks
from services.voice.mixer import Mixer, PcmSource
from services.voice.music_queue import MusicQueues, Track
from services.voice.music_source import MusicRefused, ResolvedTrack
from services.voice.voice_ports import (
    JoinRefused,
    Requester,
    SpeechOpener,
    StreamOpener,
    TrackFinder,
    VoiceConnector,
    VoiceOutput,
)

log = logging.getLogger(__name__)


class RequestNotices:
    """Who asked for which track, so that a track failing later is reported to them.

    Bounded: the oldest requesters are forgotten (an interaction can only be followed up for
    15 minutes anyway).
    """

    def __init__(self, *, keep: int = 200) -> None:
        self._keep = keep
        self._requesters: dict[str, Requester] = {}

    def remember(self, track: Track, requester: Requester) -> None:
        self._requesters[track.entry_id] = requester
        while len(self._requesters) > self._keep:  # dicts keep insertion order
            del self._requesters[next(iter(self._requesters))]

    async def track_failed(self, track: Track) -> None:
        requester = self._requesters.pop(track.entry_id, None)
        if requester is None:
            log.info("track %r failed (nobody to tell)", track.title)
            return
        await requester.tell_track_failed(track)


@dataclass
class Playback:
    track: Track
    mixer: Mixer
    paused: bool = False

    @property
    def elapsed_seconds(self) -> float:
        return self.mixer.music_seconds


@dataclass
class GuildPlayer:
    guild_id: int
    queues: MusicQueues
    finder: TrackFinder
    connector: VoiceConnector
    streams: StreamOpener
    speech_files: SpeechOpener
    idle_seconds: float
    notices: RequestNotices
    tasks: BackgroundTasks
    voice: VoiceOutput | None = None
    now: Playback | None = None
    _mixer: Mixer | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Two /play (or /say) at once would both find no connection and both connect.
    _joining: asyncio.Lock = field(default_factory=asyncio.Lock)
    _idle: asyncio.Task[None] | None = None
    _alone: asyncio.Task[None] | None = None  # leaving a channel with no human left in it
    _paused_alone: bool = False  # paused because nobody was left, not by a member
    _users: int = 0  # commands holding this player (`VoicePlayers.using`)
    # Called when the player may have come to rest: the registry then lets it go.
    _at_rest: Callable[[GuildPlayer], None] = lambda player: None

    @property
    def at_rest(self) -> bool:
        """Nothing to keep: out of voice, nothing playing or said, no timer, nobody joining
        or starting a track, no command using it. (The queue is in the store.)"""
        return (
            self._users == 0
            and self.voice is None
            and self.now is None
            and self._mixer is None
            and self._idle is None
            and self._alone is None
            and not self._lock.locked()
            and not self._joining.locked()
        )

    # -- the voice connection -------------------------------------------------------------

    @property
    def channel_id(self) -> int | None:
        """The voice channel the bot is connected to in this guild, if any."""
        return self.voice.channel_id if self.voice and self.voice.is_connected() else None

    def check_channel(self, channel_id: int) -> None:
        """Raise `JoinRefused("busy_elsewhere")` if the bot is in another voice channel."""
        current = self.channel_id
        if current is not None and current != channel_id:
            raise JoinRefused("busy_elsewhere", current)

    async def join(self, channel_id: int) -> None:
        """Connect to `channel_id` unless already there; one join at a time per guild, so a
        second caller finds the first one's connection (or `busy_elsewhere`)."""
        async with self._joining:
            self.check_channel(channel_id)
            if self.channel_id is None:
                self.voice = await self.connector.connect(channel_id)

    async def leave(self) -> None:
        self._cancel_idle()
        self._cancel_alone()
        voice, self.voice = self.voice, None
        self.now, self._mixer = None, None
        if voice is not None:
            voice.stop()
            await voice.disconnect()
        self._at_rest(self)

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
            self._alone = self.tasks.spawn(
                self._leave_when_alone(), "leave voice when alone", guild=self.guild_id
            )

    async def _leave_when_alone(self) -> None:
        await asyncio.sleep(self.idle_seconds)
        log.info("guild %s: alone for %.0f s, leaving voice", self.guild_id, self.idle_seconds)
        await self.leave()

    # -- music ----------------------------------------------------------------------------

    async def play_queue(self, fresh: ResolvedTrack | None = None) -> None:
        """Start the head of the queue unless a track is already playing.

        `fresh` is the head just resolved by `/play`, reused rather than resolved twice.
        """
        try:
            await self._play_queue(fresh)
        finally:
            self._at_rest(self)  # left meanwhile: nothing to play any more

    async def _play_queue(self, fresh: ResolvedTrack | None) -> None:
        async with self._lock:
            if self.now is not None or self.voice is None:
                return
            while (track := await self.queues.head(self.guild_id)) is not None:
                try:
                    if fresh is not None and fresh.page_url == track.page_url:
                        stream = fresh
                    else:
                        stream = await self.finder.resolve_page(track.page_url)
                    source = self.streams.open_stream(stream)
                except MusicRefused as refusal:
                    log.info("guild %s: skipping %r: %s", self.guild_id, track.title, refusal)
                    await self.notices.track_failed(track)
                    await self.queues.finish(self.guild_id, track.entry_id)
                    fresh = None
                    continue
                self._start_music(track, source)
                return
        self._schedule_idle_leave()

    def _start_music(self, track: Track, source: PcmSource) -> None:
        self._cancel_idle()
        loop = asyncio.get_running_loop()
        holder: list[Playback] = []

        def ended(frames: int) -> None:  # player thread
            _from_player_thread(self._music_ended(holder[0], frames), loop)

        mixer = self._mixer
        if mixer is None or not mixer.set_music(source, ended):
            mixer = Mixer()
            mixer.set_music(source, ended)
            self._play_mixer(mixer)
        holder.append(Playback(track, mixer))
        self.now = holder[0]
        self._resume_output()

    async def _music_ended(self, playback: Playback, frames: int) -> None:
        if self.now is not playback:  # skipped or stopped meanwhile
            return
        self.now = None
        if frames == 0:  # not a single frame: the source failed
            await self.notices.track_failed(playback.track)
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
            # Resolving the next track may take seconds: the command answers meanwhile.
            self.tasks.spawn(self.play_queue(), "play the next track", guild=self.guild_id)
        return track

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

    async def resume(self, channel_id: int) -> Track | None:
        """Un-pause, or carry on with the stored queue (after a restart or an idle leave)."""
        if self.now is not None:
            return self._unpause()
        head = await self.queues.head(self.guild_id)
        if head is not None:
            await self.join(channel_id)
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

    async def speak(self, channel_id: int, speech: Path) -> None:
        """Say the audio file `speech` now, over the music if any."""
        await self.join(channel_id)
        self._cancel_idle()
        source = self.speech_files.open_speech(speech)
        loop = asyncio.get_running_loop()

        def ended(frames: int) -> None:  # player thread
            _from_player_thread(self._speech_ended(), loop)

        mixer = self._mixer
        if mixer is None or not mixer.add_speech(source, ended):
            mixer = Mixer()
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

    def _play_mixer(self, mixer: Mixer) -> None:
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

    async def _mixer_finished(self, mixer: Mixer, error: Exception | None) -> None:
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
            self._idle = self.tasks.spawn(
                self._leave_when_idle(), "leave voice when idle", guild=self.guild_id
            )

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


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
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
    """One `GuildPlayer` per guild, built on first use, all plugged into the same ports.

    Memory holds only the players that have something to do: a player goes once it is at
    rest (out of voice, nothing playing, no timer, no command using it), when it leaves its
    channel or when the command that used it is done, and when the bot leaves the guild. The
    guild's queue is in the store; a new player carries on from it."""

    def __init__(
        self,
        *,
        queues: MusicQueues,
        finder: TrackFinder,
        connector: VoiceConnector,
        streams: StreamOpener,
        speech_files: SpeechOpener,
        idle_seconds: float,
        tasks: BackgroundTasks,
    ) -> None:
        self._queues = queues
        self._finder = finder
        self._connector = connector
        self._streams = streams
        self._speech_files = speech_files
        self._idle_seconds = idle_seconds
        self._tasks = tasks
        self._players: dict[int, GuildPlayer] = {}
        self.notices = RequestNotices()

    @property
    def guilds_in_memory(self) -> int:
        return len(self._players)

    def get(self, guild_id: int) -> GuildPlayer | None:
        return self._players.get(guild_id)

    def channel_id(self, guild_id: int) -> int | None:
        """The voice channel the bot is connected to in the guild, if any."""
        player = self._players.get(guild_id)
        return player.channel_id if player is not None else None

    def check_channel(self, guild_id: int, channel_id: int) -> None:
        """Raise `JoinRefused("busy_elsewhere")` if the bot is in another voice channel of
        the guild."""
        player = self._players.get(guild_id)
        if player is not None:
            player.check_channel(channel_id)

    def for_guild(self, guild_id: int) -> GuildPlayer:
        """The guild's player, built if need be; it goes again at its next rest (a command
        holds it with `using` instead, so that it stays while the command runs)."""
        player = self._players.get(guild_id)
        if player is None:
            player = GuildPlayer(
                guild_id=guild_id,
                queues=self._queues,
                finder=self._finder,
                connector=self._connector,
                streams=self._streams,
                speech_files=self._speech_files,
                idle_seconds=self._idle_seconds,
                notices=self.notices,
                tasks=self._tasks,
                _at_rest=self._release,
            )
            self._players[guild_id] = player
        return player

    @contextlib.contextmanager
    def using(self, guild_id: int) -> Iterator[GuildPlayer]:
        """The guild's player for the time of one command: kept while it runs (two `/play`
        at once share one player, hence one join), let go after it if it is at rest."""
        player = self.for_guild(guild_id)
        player._users += 1
        try:
            yield player
        finally:
            player._users -= 1
            self._release(player)

    def _release(self, player: GuildPlayer) -> None:
        if player.at_rest and self._players.get(player.guild_id) is player:
            del self._players[player.guild_id]

    async def guild_removed(self, guild_id: int) -> None:
        """The bot is no longer in the guild: its player stops and goes."""
        player = self._players.pop(guild_id, None)
        if player is not None:
            await player.leave()

    def playing_count(self) -> int:
        """How many guilds hear a track now (not paused): for the status line, which every
        server sees, so it never names one server's track, and for the metrics."""
        return sum(
            1
            for player in self._players.values()
            if player.now is not None and not player.now.paused
        )

    async def close(self) -> None:
        for player in list(self._players.values()):
            with contextlib.suppress(Exception):
                await player.leave()
