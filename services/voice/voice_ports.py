"""What the voice player is plugged into, as it sees it: small ports, no Discord types.

`commands/voice_audio.py` implements them over discord.py and FFmpeg; the unit tests, with
in-memory fakes. Everything here is called on the event loop, except that `VoiceOutput.play`
starts a thread (discord.py's player) which reads the mixer and calls `after` when it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from services.voice.mixer import Mixer, PcmSource
from services.voice.music_queue import Track
from services.voice.music_source import MusicRequest, ResolvedTrack

# stage_not_allowed: a stage channel where the bot may not become a speaker.
JoinFailure = Literal["busy_elsewhere", "voice_unavailable", "connect_failed", "stage_not_allowed"]


class JoinRefused(Exception):
    """The bot cannot be in the member's voice channel; `channel_id` is the one to name:
    where the bot already is (busy_elsewhere), or the one it could not join."""

    def __init__(self, reason: JoinFailure, channel_id: int) -> None:
        super().__init__(f"{reason}: channel {channel_id}")
        self.reason: JoinFailure = reason
        self.channel_id = channel_id


class VoiceOutput(Protocol):
    """The bot's connection to one voice channel."""

    @property
    def channel_id(self) -> int | None:
        """Where the bot is now (it follows a move by a moderator)."""
        ...

    def is_connected(self) -> bool: ...

    def is_playing(self) -> bool: ...

    def is_paused(self) -> bool: ...

    def play(self, mixer: Mixer, *, after: Callable[[Exception | None], None]) -> None:
        """Send what `mixer` reads, every 20 ms, until it ends; then `after` (on the player
        thread) with the error that stopped it, if any."""
        ...

    def stop(self) -> None: ...

    def pause(self) -> None:
        """Stop sending frames (no silence is sent while nothing is heard)."""
        ...

    def resume(self) -> None: ...

    async def disconnect(self) -> None: ...


class VoiceConnector(Protocol):
    async def connect(self, channel_id: int) -> VoiceOutput:
        """Join the voice channel, as a speaker on a stage; raises `JoinRefused`
        (voice_unavailable, connect_failed, stage_not_allowed)."""
        ...


class StreamOpener(Protocol):
    def open_stream(self, stream: ResolvedTrack) -> PcmSource:
        """Start decoding a resolved track's stream URL (FFmpeg, capped in length)."""
        ...


class SpeechOpener(Protocol):
    def open_speech(self, path: Path) -> PcmSource:
        """Start decoding a speech audio file (the text-to-speech cache)."""
        ...


class TrackFinder(Protocol):
    """What `/play` may play and where its stream is (`MusicResolver`: yt-dlp).

    Each method raises `MusicRefused(reason)` for what will not be played.
    """

    def classify(self, query: str) -> MusicRequest: ...

    async def resolve(self, request: MusicRequest) -> ResolvedTrack: ...

    async def resolve_page(self, page_url: str) -> ResolvedTrack: ...


class Requester(Protocol):
    """The member who asked for a track, as far as telling them about it goes."""

    async def tell_track_failed(self, track: Track) -> None: ...
