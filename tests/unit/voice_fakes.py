# The waiting helper takes a `timeout` argument on purpose, like the other fakes'.
# ruff: noqa: ASYNC109
"""In-memory fakes of the voice player's ports (`services/voice/voice_ports.py`), for unit tests.

No Discord, yt-dlp or FFmpeg: the output is a voice client whose "player thread" is the
test itself, reading the mixer frame by frame when the test calls `FakeOutput.pull`. Sources
are flat signals (every sample the same value), so a frame's level is its first sample.
Every fake records what it was asked and wakes `Changes` waiters, so tests wait for what
happened, never for time.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.background import BackgroundTasks
from services.voice.audio_mix import FRAME_BYTES
from services.voice.mixer import Mixer
from services.voice.music_queue import MusicQueues, Track
from services.voice.music_source import MusicRefused, MusicRequest, RefusalReason, ResolvedTrack
from services.voice.play_request import PlayOutcome, PlayRequest, PlayRequests
from services.voice.voice_player import GuildPlayer, VoicePlayers
from services.voice.voice_ports import JoinFailure, JoinRefused, VoiceOutput


def flat_frame(value: int) -> bytes:
    return array("h", [value] * (FRAME_BYTES // 2)).tobytes()


def level(frame: bytes) -> int:
    return array("h", frame[:2])[0]


class Changes:
    """Waiters for a condition, checked again each time a fake records something."""

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def notify(self) -> None:
        # Checked once the caller's current step is over (it may set more state first).
        asyncio.get_running_loop().call_soon(self._check)

    def _check(self) -> None:
        for check, future in self._waiters:
            if not future.done() and check():
                future.set_result(None)

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        if check():
            return
        entry = (check, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await entry[1]
        finally:
            self._waiters.remove(entry)


class FlatSource:
    """`frames` frames of PCM at one level, then the end (no data)."""

    def __init__(self, value: int, frames: int) -> None:
        self.value = value
        self.left = frames
        self.cleaned_up = False

    def read(self) -> bytes:
        if self.left <= 0:
            return b""
        self.left -= 1
        return flat_frame(self.value)

    def cleanup(self) -> None:
        self.cleaned_up = True


class FakeOutput:
    """A connected voice client; `pull` is its player thread, run by the test."""

    def __init__(self, channel_id: int, changes: Changes) -> None:
        self._channel_id: int | None = channel_id
        self._changes = changes
        self.connected = True
        self.paused = False
        self.mixer: Mixer | None = None
        self._after: Callable[[Exception | None], None] | None = None
        self.heard: list[bytes] = []

    @property
    def channel_id(self) -> int | None:
        return self._channel_id

    def is_connected(self) -> bool:
        return self.connected

    def is_playing(self) -> bool:
        return self.mixer is not None and not self.paused

    def is_paused(self) -> bool:
        return self.mixer is not None and self.paused

    def play(self, mixer: Mixer, *, after: Callable[[Exception | None], None]) -> None:
        assert self.connected, "not connected"
        assert self.mixer is None, "already playing"  # as discord.py refuses
        self.mixer, self._after, self.paused = mixer, after, False
        self._changes.notify()

    def pull(self, count: int) -> list[bytes]:
        """Read up to `count` frames, as the player thread does every 20 ms (nothing while
        paused); the play ends when the mixer gives no data."""
        frames: list[bytes] = []
        while len(frames) < count and self.mixer is not None and not self.paused:
            frame = self.mixer.read()
            if not frame:
                self._finish()
                break
            frames.append(frame)
        self.heard += frames
        return frames

    def _finish(self, error: Exception | None = None) -> None:
        mixer, after = self.mixer, self._after
        self.mixer, self._after, self.paused = None, None, False
        if after is not None:
            after(error)
        if mixer is not None:
            mixer.cleanup()
        self._changes.notify()

    def stop(self) -> None:
        if self.mixer is not None:
            self._finish()

    def pause(self) -> None:
        self.paused = True
        self._changes.notify()

    def resume(self) -> None:
        self.paused = False
        self._changes.notify()

    async def disconnect(self) -> None:
        self.stop()
        self.connected = False
        self._channel_id = None
        self._changes.notify()


class FakeConnector:
    def __init__(self, changes: Changes) -> None:
        self._changes = changes
        self.outputs: list[FakeOutput] = []
        self.refuse: JoinFailure | None = None
        self.handshake: asyncio.Event | None = None  # when set: connecting waits for it
        self.connecting = 0

    async def connect(self, channel_id: int) -> VoiceOutput:
        if self.refuse is not None:
            raise JoinRefused(self.refuse, channel_id)
        self.connecting += 1
        self._changes.notify()
        if self.handshake is not None:  # Discord's voice handshake takes a moment
            await self.handshake.wait()
        output = FakeOutput(channel_id, self._changes)
        self.outputs.append(output)
        self._changes.notify()
        return output

    @property
    def output(self) -> FakeOutput:
        return self.outputs[-1]


class FakeAudio:
    """Opens flat music at a level per page (`music`), and flat speech."""

    def __init__(self, changes: Changes, *, speech_level: int = 1000) -> None:
        self._changes = changes
        self.music: dict[str, tuple[int, int]] = {}  # page URL -> (level, frames)
        self.speech_level = speech_level
        self.speech_frames = 20
        self.streams: list[str] = []  # the page URL of each stream opened
        self.speeches: list[Path] = []

    def open_stream(self, stream: ResolvedTrack) -> FlatSource:
        value, frames = self.music.get(stream.page_url, (4000, 1000))
        self.streams.append(stream.page_url)
        self._changes.notify()
        return FlatSource(value, frames)

    def open_speech(self, path: Path) -> FlatSource:
        self.speeches.append(path)
        self._changes.notify()
        return FlatSource(self.speech_level, self.speech_frames)


class FakeFinder:
    """Words "x" are the page https://music.test/x; links elsewhere are not allowed."""

    def __init__(self, changes: Changes) -> None:
        self._changes = changes
        self.refuse: dict[str, RefusalReason] = {}  # page URL -> why `resolve` refuses it
        self.gone: set[str] = set()  # pages that no longer resolve when their turn comes
        self.resolved: list[str] = []

    @staticmethod
    def page(words: str) -> str:
        return f"https://music.test/{words}"

    def classify(self, query: str) -> MusicRequest:
        if "://" in query and not query.startswith("https://music.test/"):
            raise MusicRefused("link_not_allowed")
        return MusicRequest(query if "://" in query else self.page(query))

    async def resolve(self, request: MusicRequest) -> ResolvedTrack:
        page = request.target
        self.resolved.append(page)
        self._changes.notify()
        if page in self.refuse:
            raise MusicRefused(self.refuse[page])
        return ResolvedTrack(
            title=page.rsplit("/", 1)[-1],
            page_url=page,
            duration_seconds=60,
            stream_url=page + "/stream",
            http_headers={},
        )

    async def resolve_page(self, page_url: str) -> ResolvedTrack:
        if page_url in self.gone:
            self.resolved.append(page_url)
            self._changes.notify()
            raise MusicRefused("unplayable")
        return await self.resolve(MusicRequest(page_url))


class FakeRequester:
    def __init__(self, changes: Changes) -> None:
        self._changes = changes
        self.told_failed: list[str] = []

    async def tell_track_failed(self, track: Track) -> None:
        self.told_failed.append(track.title)
        self._changes.notify()


LOUNGE = 501  # voice channel ids
QUIET_ROOM = 502
GUILD = 42
ALICE = 7


@dataclass
class Rig:
    """The voice players and the /play use case, plugged into the fakes above."""

    queues: MusicQueues
    changes: Changes
    connector: FakeConnector
    audio: FakeAudio
    finder: FakeFinder
    tasks: BackgroundTasks
    players: VoicePlayers
    requests: PlayRequests

    @classmethod
    def build(cls, queues: MusicQueues, *, idle_seconds: float = 600) -> Rig:
        changes = Changes()
        connector, audio, finder = FakeConnector(changes), FakeAudio(changes), FakeFinder(changes)
        tasks = BackgroundTasks()
        players = VoicePlayers(
            queues=queues,
            finder=finder,
            connector=connector,
            streams=audio,
            speech_files=audio,
            idle_seconds=idle_seconds,
            tasks=tasks,
        )
        requests = PlayRequests(players=players, queues=queues, finder=finder)
        return cls(queues, changes, connector, audio, finder, tasks, players, requests)

    @property
    def player(self) -> GuildPlayer:
        return self.players.for_guild(GUILD)

    @property
    def output(self) -> FakeOutput:
        return self.connector.output

    async def play(
        self,
        words: str,
        *,
        channel_id: int | None = LOUNGE,
        requester: FakeRequester | None = None,
    ) -> PlayOutcome:
        request = PlayRequest(guild_id=GUILD, member_id=ALICE, channel_id=channel_id, query=words)
        return await self.requests.play(request, requester)

    async def titles(self) -> list[str]:
        return [track.title for track in await self.queues.tracks(GUILD)]

    def now_title(self) -> str | None:
        now = self.player.now
        return now.track.title if now is not None else None

    async def close(self) -> None:
        await self.players.close()
        await self.tasks.close()
