"""`/play` as one use case: a member's request in, what became of it out.

The checks run cheapest first (where the member is, what they typed, room in the queue), so
a request that will be refused is refused before yt-dlp or the voice connection is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.voice.music_queue import MusicQueues, QueueFull, Track
from services.voice.music_source import MusicRefused, RefusalReason
from services.voice.voice_player import GuildPlayer, VoicePlayers
from services.voice.voice_ports import JoinFailure, JoinRefused, Requester, TrackFinder

PlayRefusal = Literal["not_in_voice", "queue_full"] | JoinFailure | RefusalReason


@dataclass(frozen=True, slots=True)
class PlayRequest:
    guild_id: int
    member_id: int
    channel_id: int | None  # the member's voice channel; None when they are in none
    query: str


@dataclass(frozen=True, slots=True)
class PlayingNow:
    track: Track


@dataclass(frozen=True, slots=True)
class Queued:
    track: Track
    position: int  # 2 is the first after the one playing


@dataclass(frozen=True, slots=True)
class Refused:
    reason: PlayRefusal
    channel_id: int | None = None  # for busy_elsewhere and connect_failed: the one to name
    limit: int | None = None  # for queue_full


PlayOutcome = PlayingNow | Queued | Refused


class PlayRequests:
    def __init__(self, *, players: VoicePlayers, queues: MusicQueues, finder: TrackFinder) -> None:
        self._players = players
        self._queues = queues
        self._finder = finder

    async def play(self, request: PlayRequest, requester: Requester | None = None) -> PlayOutcome:
        """Queue what the member asked for in their voice channel, and start it if nothing
        plays. `requester` is told later if the track fails when its turn comes."""
        if request.channel_id is None:
            return Refused("not_in_voice")
        with self._players.using(request.guild_id) as player:
            return await self._play(player, request, request.channel_id, requester)

    async def _play(
        self,
        player: GuildPlayer,
        request: PlayRequest,
        channel_id: int,
        requester: Requester | None,
    ) -> PlayOutcome:
        try:
            player.check_channel(channel_id)
            music = self._finder.classify(request.query)
        except JoinRefused as refused:
            return Refused(refused.reason, channel_id=refused.channel_id)
        except MusicRefused as refusal:
            return Refused(refusal.reason)
        if len(await self._queues.tracks(request.guild_id)) >= self._queues.max_length:
            return Refused("queue_full", limit=self._queues.max_length)
        try:
            resolved = await self._finder.resolve(music)
            await player.join(channel_id)
        except MusicRefused as refusal:
            return Refused(refusal.reason)
        except JoinRefused as refused:
            return Refused(refused.reason, channel_id=refused.channel_id)
        track = Track.new(
            title=resolved.title,
            page_url=resolved.page_url,
            duration_seconds=resolved.duration_seconds,
            requester_id=request.member_id,
        )
        try:
            position = await self._queues.add(request.guild_id, track)
        except QueueFull as full:
            return Refused("queue_full", limit=full.limit)
        if requester is not None:
            self._players.notices.remember(track, requester)
        await player.play_queue(fresh=resolved if position == 0 else None)
        now = player.now
        if now is not None and now.track.entry_id == track.entry_id:
            return PlayingNow(track)
        return Queued(track, position + 1)
