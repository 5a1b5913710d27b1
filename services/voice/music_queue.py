"""Each guild's music queue, kept in the state store so it survives a restart.

The first track of a queue is the one playing (or the one to carry on with after a restart or a
stop); the rest come next, in order. Only what is needed to find a track again is stored:
the page URL (never the stream URL, which expires), the title, the duration and who asked.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import asdict, dataclass

from services.state import UnreadableDocument, dataclass_from, versioned
from services.store import Document, StateKind, StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Track:
    page_url: str
    title: str = ""
    duration_seconds: int | None = None
    requester_id: int = 0
    entry_id: str = ""

    @classmethod
    def new(
        cls, *, title: str, page_url: str, duration_seconds: int | None, requester_id: int
    ) -> Track:
        return cls(page_url, title, duration_seconds, requester_id, uuid.uuid4().hex)


class QueueFull(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the queue already holds {limit} tracks")
        self.limit = limit


class QueueDocuments:
    """The `music_queue` documents, one per guild: the tracks in order, the current first.
    A track entry that cannot be read (say, written by a much newer release) is dropped with
    a log line; the rest of the queue is kept."""

    KIND: StateKind = "music_queue"
    VERSION = 1

    def __init__(self, state: StateStore) -> None:
        self._state = state

    @classmethod
    def to_document(cls, tracks: list[Track]) -> Document:
        return versioned(cls.VERSION, {"tracks": [asdict(track) for track in tracks]})

    @classmethod
    def from_document(cls, document: Document) -> list[Track]:
        tracks = []
        for entry in document.get("tracks", []):
            try:
                # An entry written before a field existed: a fresh id, the link as its title.
                defaults = {"entry_id": uuid.uuid4().hex, "title": entry.get("page_url", "")}
                track = dataclass_from(Track, {**defaults, **entry})
            except UnreadableDocument as error:
                log.warning("a queued track was unreadable and is dropped: %s", error)
                continue
            tracks.append(track)
        return tracks

    async def get(self, guild_id: int) -> list[Track]:
        document = await self._state.get_state(self.KIND, str(guild_id))
        return self.from_document(document) if document else []

    async def put(self, guild_id: int, tracks: list[Track]) -> None:
        if tracks:
            await self._state.put_state(self.KIND, str(guild_id), self.to_document(tracks))
        else:
            await self._state.delete_state(self.KIND, str(guild_id))


class MusicQueues:
    """Per-guild queues: read-modify-write under one lock, every change written through.

    Memory holds only the queues that have tracks, so a guild's entry goes when its queue
    empties: the store has every queue anyway."""

    def __init__(self, documents: QueueDocuments, *, max_length: int) -> None:
        self._documents = documents
        self.max_length = max_length
        self._queues: dict[int, list[Track]] = {}
        self._lock = asyncio.Lock()

    @property
    def guilds_in_memory(self) -> int:
        return len(self._queues)

    def has_tracks_in_memory(self, guild_id: int) -> bool:
        """True when memory shows the guild's queue has tracks. False says nothing: an empty
        queue and one not read since the start look the same."""
        return guild_id in self._queues

    async def _load(self, guild_id: int) -> list[Track]:
        tracks = self._queues.get(guild_id)
        if tracks is None:
            tracks = await self._documents.get(guild_id)
            if tracks:
                self._queues[guild_id] = tracks
        return tracks

    async def _save(self, guild_id: int, tracks: list[Track]) -> None:
        await self._documents.put(guild_id, tracks)
        if tracks:
            self._queues[guild_id] = tracks
        else:
            self._queues.pop(guild_id, None)

    async def tracks(self, guild_id: int) -> list[Track]:
        """The whole queue, the current track first."""
        async with self._lock:
            return list(await self._load(guild_id))

    async def head(self, guild_id: int) -> Track | None:
        async with self._lock:
            tracks = await self._load(guild_id)
            return tracks[0] if tracks else None

    async def add(self, guild_id: int, track: Track) -> int:
        """Append `track`; returns its position (0: it is the one to play now)."""
        async with self._lock:
            tracks = await self._load(guild_id)
            if len(tracks) >= self.max_length:
                raise QueueFull(self.max_length)
            await self._save(guild_id, [*tracks, track])
            return len(tracks)

    async def finish(self, guild_id: int, entry_id: str) -> Track | None:
        """Drop the track `entry_id` if it is still the head; returns the new head.

        Keyed by entry so that a late "track ended" never drops the track after it.
        """
        async with self._lock:
            tracks = await self._load(guild_id)
            if tracks and tracks[0].entry_id == entry_id:
                tracks = tracks[1:]
                await self._save(guild_id, tracks)
            return tracks[0] if tracks else None

    async def clear(self, guild_id: int) -> int:
        async with self._lock:
            dropped = len(await self._load(guild_id))
            await self._save(guild_id, [])
            return dropped
