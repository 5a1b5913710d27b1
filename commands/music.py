"""/play, /queue, /skip, /stop, /pause and /resume: music in the member's voice channel."""

from __future__ import annotations

import asyncio
import math

import discord
from discord import app_commands
from discord.ext import commands

from commands.errors import UserFacingError
from commands.i18n import for_interaction
from commands.voice_audio import (
    BusyElsewhere,
    GuildPlayer,
    VoicePlayers,
    busy_elsewhere,
    join_member_channel,
    member_voice_channel,
)
from services.music_queue import MusicQueues, QueueFull, Track
from services.music_source import MusicRefused, MusicResolver

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


class Music(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot,
        *,
        players: VoicePlayers,
        queues: MusicQueues,
        resolver: MusicResolver,
    ) -> None:
        self._bot = bot
        self._players = players
        self._queues = queues
        self._resolver = resolver
        self._warm_up: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        # In the background: the bot is ready at once, and the first /play is not slower.
        self._warm_up = asyncio.create_task(asyncio.to_thread(self._resolver.warm_up))

    async def cog_unload(self) -> None:
        await self.warmed_up()  # a thread cannot be cancelled; it ends in well under a second

    async def warmed_up(self) -> None:
        """Return once yt-dlp's start-up warm-up is over."""
        if self._warm_up is not None:
            await self._warm_up

    def _refusal(self, interaction: discord.Interaction, refusal: MusicRefused) -> UserFacingError:
        values: dict[str, object] = {}
        if refusal.reason == "link_not_allowed":
            values["hosts"] = ", ".join(sorted(self._resolver.allowed_hosts))
        elif refusal.reason == "too_long":
            values["minutes"] = self._resolver.max_seconds // 60
        return UserFacingError(for_interaction(interaction, f"music.{refusal.reason}", **values))

    def _player(self, interaction: discord.Interaction) -> GuildPlayer:
        assert interaction.guild_id is not None  # the commands are guild_only
        return self._players.for_guild(interaction.guild_id)

    def _check_same_channel(self, interaction: discord.Interaction, player: GuildPlayer) -> None:
        """Controlling the music takes being in the channel it plays in."""
        current = player.connected_channel
        member = interaction.user
        voice = member.voice if isinstance(member, discord.Member) else None
        if current is not None and (voice is None or voice.channel != current):
            raise UserFacingError(
                for_interaction(interaction, "voice.same_channel", channel=current.mention)
            )

    @app_commands.command(name="play", description="Play a song in your voice channel")
    @app_commands.describe(query="Words to search for, or a link")
    @app_commands.guild_only()
    async def play(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 500]
    ) -> None:
        channel = member_voice_channel(interaction)
        player = self._player(interaction)
        try:
            player.check_channel(channel)
            request = self._resolver.classify(query)
        except BusyElsewhere as error:
            raise busy_elsewhere(interaction, error) from error
        except MusicRefused as refusal:
            raise self._refusal(interaction, refusal) from refusal
        queued = await self._queues.tracks(player.guild_id)
        if len(queued) >= self._queues.max_length:
            raise UserFacingError(
                for_interaction(interaction, "music.queue_full", limit=self._queues.max_length)
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            resolved = await self._resolver.resolve(request)
        except MusicRefused as refusal:
            raise self._refusal(interaction, refusal) from refusal
        await join_member_channel(interaction, player, channel)
        track = Track.new(
            title=resolved.title,
            page_url=resolved.page_url,
            duration_seconds=resolved.duration_seconds,
            requester_id=interaction.user.id,
        )
        try:
            position = await self._queues.add(player.guild_id, track)
        except QueueFull as full:
            raise UserFacingError(
                for_interaction(interaction, "music.queue_full", limit=full.limit)
            ) from full
        self._players.notices.remember(track, interaction)
        await player.play_queue(fresh=resolved if position == 0 else None)
        playing = player.now is not None and player.now.track.entry_id == track.entry_id
        await interaction.followup.send(
            for_interaction(
                interaction,
                "music.now_playing" if playing else "music.queued",
                title=shown_title(track),
                duration=length(interaction, track.duration_seconds),
                position=position + 1,
            ),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
            suppress_embeds=True,
        )

    @app_commands.command(name="queue", description="Show the song playing and what comes next")
    @app_commands.describe(page="Which page of the queue to show")
    @app_commands.guild_only()
    async def queue(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        player = self._player(interaction)
        tracks = await self._queues.tracks(player.guild_id)
        if not tracks:
            await interaction.response.send_message(
                for_interaction(interaction, "music.queue_empty"), ephemeral=True
            )
            return
        await interaction.response.send_message(
            embed=self._queue_embed(interaction, player, tracks, page),
            allowed_mentions=discord.AllowedMentions.none(),
        )

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
        if player.connected_channel is None and not await self._queues.tracks(player.guild_id):
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
        channel = member_voice_channel(interaction)
        player = self._player(interaction)
        self._check_same_channel(interaction, player)
        if player.now is None:
            if await self._queues.head(player.guild_id) is None:
                raise UserFacingError(for_interaction(interaction, "music.nothing_to_resume"))
            # Carrying on joins the channel and resolves the track: acknowledge first.
            await interaction.response.defer(thinking=True)
            await join_member_channel(interaction, player, channel)
        resumed = await player.resume(channel)
        if resumed is None:
            raise UserFacingError(for_interaction(interaction, "music.nothing_to_resume"))
        await self._announce(interaction, "music.resumed", title=shown_title(resumed))

    async def _announce(self, interaction: discord.Interaction, key: str, **values: object) -> None:
        """A short public line, so the channel sees who changed the music."""
        text = for_interaction(interaction, key, user=interaction.user.mention, **values)
        none = discord.AllowedMentions.none()
        if interaction.response.is_done():
            await interaction.followup.send(text, allowed_mentions=none, suppress_embeds=True)
        else:
            await interaction.response.send_message(
                text, allowed_mentions=none, suppress_embeds=True
            )
