"""/play, /queue, /skip, /stop, /pause and /resume: music in the member's voice channel."""

from __future__ import annotations

import asyncio
import logging
import math

import discord
from discord import app_commands
from discord.ext import commands

from commands.errors import UserFacingError, answer
from commands.i18n import for_interaction
from commands.voice_audio import cannot_join, member_voice_channel_id, mention, voice_refusal
from services.background import BackgroundTasks
from services.direct_audio import AUDIO_EXTENSIONS
from services.music_queue import MusicQueues, Track
from services.music_source import MusicResolver
from services.play_request import (
    PlayingNow,
    PlayOutcome,
    PlayRequest,
    PlayRequests,
    Queued,
    Refused,
)
from services.voice_player import GuildPlayer, VoicePlayers
from services.voice_ports import JoinRefused

log = logging.getLogger(__name__)

QUEUE_PAGE_SIZE = 10


def clock(seconds: float) -> str:
    """3:05, or 1:02:03 past an hour."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def length(interaction: discord.Interaction, seconds: int | None) -> str:
    return clock(seconds) if seconds is not None else for_interaction(interaction, "music.unknown")


def shown_title(track: Track) -> str:
    title = discord.utils.escape_markdown(track.title).replace("[", "(").replace("]", ")")
    return f"[{title[:200]}]({track.page_url})"


class InteractionRequester:
    """The member who asked for a track, told through their /play (a private followup)."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction

    async def tell_track_failed(self, track: Track) -> None:
        title = discord.utils.escape_markdown(track.title)
        text = for_interaction(self._interaction, "music.source_failed", title=title)
        try:
            await answer(self._interaction, text)
        except discord.HTTPException:
            user = self._interaction.user.id
            log.info("could not tell user %s that %r failed", user, track.title)


class MusicCog(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        players: VoicePlayers,
        requests: PlayRequests,
        queues: MusicQueues,
        resolver: MusicResolver,
        tasks: BackgroundTasks,
    ) -> None:
        self._bot = bot
        self._players = players
        self._requests = requests
        self._queues = queues
        self._resolver = resolver
        self._tasks = tasks
        self._warm_up: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        # In the background: the bot is ready at once, and the first /play is not slower.
        self._warm_up = self._tasks.spawn(self._resolver.warm_up(), "yt-dlp warm-up")

    async def cog_unload(self) -> None:
        if self._warm_up is not None:
            self._warm_up.cancel()  # a worker still starting is killed
        await self.warmed_up()

    async def warmed_up(self) -> None:
        """Return once yt-dlp's start-up warm-up is over (a failure is logged, not raised)."""
        if self._warm_up is not None:
            await asyncio.wait({self._warm_up})

    def _player(self, interaction: discord.Interaction) -> GuildPlayer:
        assert interaction.guild_id is not None  # the commands are guild_only
        return self._players.for_guild(interaction.guild_id)

    def _check_same_channel(self, interaction: discord.Interaction, player: GuildPlayer) -> None:
        """Controlling the music takes being in the channel it plays in."""
        current = player.channel_id
        if current is not None and member_voice_channel_id(interaction) != current:
            raise UserFacingError(
                for_interaction(interaction, "voice.same_channel", channel=mention(current))
            )

    @app_commands.command(name="play", description="Play a song in your voice channel")
    @app_commands.describe(query="Words to search for, or a link")
    @app_commands.guild_only()
    async def play(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 500]
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        request = PlayRequest(
            guild_id=interaction.guild_id,
            member_id=interaction.user.id,
            channel_id=member_voice_channel_id(interaction),
            query=query,
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self._requests.play(request, InteractionRequester(interaction))
        await answer(interaction, self._play_answer(interaction, outcome), suppress_embeds=True)

    def _play_answer(self, interaction: discord.Interaction, outcome: PlayOutcome) -> str:
        if isinstance(outcome, Refused):
            return self._refusal(interaction, outcome)
        return for_interaction(
            interaction,
            "music.now_playing" if isinstance(outcome, PlayingNow) else "music.queued",
            title=shown_title(outcome.track),
            duration=length(interaction, outcome.track.duration_seconds),
            position=outcome.position if isinstance(outcome, Queued) else 1,
        )

    def _refusal(self, interaction: discord.Interaction, refused: Refused) -> str:
        sentence = voice_refusal(interaction, refused.reason, refused.channel_id)
        if sentence is not None:
            return sentence
        values: dict[str, object] = {}
        if refused.reason == "queue_full":
            values["limit"] = refused.limit
        elif refused.reason == "link_not_allowed":
            values["hosts"] = ", ".join(sorted(self._resolver.allowed_hosts))
            values["extensions"] = ", ".join(AUDIO_EXTENSIONS)
        elif refused.reason == "too_long":
            values["minutes"] = self._resolver.max_seconds // 60
        elif refused.reason == "too_large":
            values["megabytes"] = self._resolver.max_file_bytes // 1_000_000
        return for_interaction(interaction, f"music.{refused.reason}", **values)

    @app_commands.command(name="queue", description="Show the song playing and what comes next")
    @app_commands.describe(page="Which page of the queue to show")
    @app_commands.guild_only()
    async def queue(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        player = self._player(interaction)
        tracks = await self._queues.tracks(player.guild_id)
        if not tracks:
            await answer(interaction, for_interaction(interaction, "music.queue_empty"))
            return
        embed = self._queue_embed(interaction, player, tracks, page)
        await answer(interaction, embed=embed, ephemeral=False)

    def _queue_embed(
        self, interaction: discord.Interaction, player: GuildPlayer, tracks: list[Track], page: int
    ) -> discord.Embed:
        def say(key: str, **values: object) -> str:
            return for_interaction(interaction, key, **values)

        current, upcoming = tracks[0], tracks[1:]
        playback = player.now if player.now and player.now.track == current else None
        if playback is None:
            heading, elapsed = say("music.queue_stopped"), 0.0
        else:
            heading = say("music.queue_paused" if playback.paused else "music.queue_playing")
            elapsed = playback.elapsed_seconds
        embed = discord.Embed(title=say("music.queue_title"), colour=discord.Colour.blurple())
        embed.add_field(
            name=heading,
            value=say(
                "music.queue_current",
                title=shown_title(current),
                elapsed=clock(elapsed),
                total=length(interaction, current.duration_seconds),
                requester=f"<@{current.requester_id}>",
            ),
            inline=False,
        )
        pages = max(1, math.ceil(len(upcoming) / QUEUE_PAGE_SIZE))
        page = min(page, pages)
        first = (page - 1) * QUEUE_PAGE_SIZE
        lines = [
            say(
                "music.queue_entry",
                position=first + offset + 2,  # the current track is number 1
                title=shown_title(track),
                duration=length(interaction, track.duration_seconds),
                requester=f"<@{track.requester_id}>",
            )
            for offset, track in enumerate(upcoming[first : first + QUEUE_PAGE_SIZE])
        ]
        embed.add_field(
            name=say("music.queue_next"),
            value="\n".join(lines) if lines else say("music.queue_nothing_next"),
            inline=False,
        )
        total = sum(track.duration_seconds or 0 for track in tracks)
        embed.set_footer(
            text=say(
                "music.queue_footer", page=page, pages=pages, count=len(tracks), total=clock(total)
            )
        )
        return embed

    @app_commands.command(name="skip", description="Skip the song playing")
    @app_commands.guild_only()
    async def skip(self, interaction: discord.Interaction) -> None:
        player = self._player(interaction)
        self._check_same_channel(interaction, player)
        skipped = await player.skip()
        if skipped is None:
            raise UserFacingError(for_interaction(interaction, "music.nothing_playing"))
        await self._announce(interaction, "music.skipped", title=shown_title(skipped))

    @app_commands.command(name="stop", description="Stop the music, clear the queue and leave")
    @app_commands.guild_only()
    async def stop(self, interaction: discord.Interaction) -> None:
        player = self._player(interaction)
        self._check_same_channel(interaction, player)
        if player.channel_id is None and not await self._queues.tracks(player.guild_id):
            raise UserFacingError(for_interaction(interaction, "music.nothing_playing"))
        dropped = await player.stop()
        await self._announce(interaction, "music.stopped", count=dropped)

    @app_commands.command(name="pause", description="Pause the song playing")
    @app_commands.guild_only()
    async def pause(self, interaction: discord.Interaction) -> None:
        player = self._player(interaction)
        self._check_same_channel(interaction, player)
        paused = player.pause()
        if paused is None:
            raise UserFacingError(for_interaction(interaction, "music.nothing_playing"))
        await self._announce(interaction, "music.paused", title=shown_title(paused))

    @app_commands.command(name="resume", description="Resume the music, or carry on with the queue")
    @app_commands.guild_only()
    async def resume(self, interaction: discord.Interaction) -> None:
        channel_id = member_voice_channel_id(interaction)
        if channel_id is None:
            raise UserFacingError(for_interaction(interaction, "voice.join_first"))
        player = self._player(interaction)
        self._check_same_channel(interaction, player)
        if player.now is None:
            if await self._queues.head(player.guild_id) is None:
                raise UserFacingError(for_interaction(interaction, "music.nothing_to_resume"))
            # Carrying on joins the channel and resolves the track: acknowledge first.
            await interaction.response.defer(thinking=True)
            try:
                await player.join(channel_id)
            except JoinRefused as refused:
                raise cannot_join(interaction, refused) from refused
        resumed = await player.resume(channel_id)
        if resumed is None:
            raise UserFacingError(for_interaction(interaction, "music.nothing_to_resume"))
        await self._announce(interaction, "music.resumed", title=shown_title(resumed))

    async def _announce(self, interaction: discord.Interaction, key: str, **values: object) -> None:
        """A short public line, so the channel sees who changed the music."""
        text = for_interaction(interaction, key, user=interaction.user.mention, **values)
        await answer(interaction, text, ephemeral=False, suppress_embeds=True)
