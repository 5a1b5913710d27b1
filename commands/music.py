"""/play, /queue, /skip, /stop, /pause and /resume: music in the member's voice channel."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from commands.errors import UserFacingError, answer
from commands.i18n import for_interaction, text
from commands.voice_audio import (
    cannot_join,
    member_voice_channel_id,
    mention,
    stage_refusal,
    voice_refusal,
)
from services.background import BackgroundTasks
from services.display_text import display_title, redact_url, track_label
from services.voice.direct_audio import AUDIO_EXTENSIONS
from services.voice.music_queue import MusicQueues, Track
from services.voice.music_source import MusicResolver
from services.voice.play_request import (
    PlayingNow,
    PlayOutcome,
    PlayRequest,
    PlayRequests,
    Queued,
    Refused,
)
from services.voice.voice_player import GuildPlayer, Playback, VoicePlayers
from services.voice.voice_ports import JoinRefused

log = logging.getLogger(__name__)

QUEUE_PAGE_SIZE = 10
# Discord refuses an embed field value over 1,024 characters (the whole embed: 6,000), see
# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
FIELD_VALUE_MAX = 1024
# A title is cut to this many characters before escaping (escaping at most doubles it), and a
# link longer than LINK_MAX is not shown: one entry then always fits in a field, whatever
# the source called the track.
TITLE_MAX = 100
LINK_MAX = 500


def clock(seconds: float) -> str:
    """3:05, or 1:02:03 past an hour."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def length(interaction: discord.Interaction, seconds: int | None) -> str:
    return clock(seconds) if seconds is not None else for_interaction(interaction, "music.unknown")


def shown_title(track: Track) -> str:
    """The track's title as a member sees it: plain text that can be neither a masked link
    nor a mention nor a heading, on one line, bounded, then its page in full view without its
    query string when that is a web link short enough (at most 2 * TITLE_MAX + 3 + LINK_MAX
    characters in all). The one place a title is rendered, for every command that shows one."""
    link = redact_url(track.page_url)
    raw = " ".join(track.title.split()) or link
    if len(raw) > TITLE_MAX:
        raw = raw[: TITLE_MAX - 1] + "…"
    if len(link) > LINK_MAX or not link.startswith(("https://", "http://")):
        return display_title(raw)
    return track_label(raw, link)


def queue_pages(lines: list[str], *, per_page: int, max_chars: int) -> list[list[str]]:
    """The lines in order, in pages of at most `per_page` lines whose joined text (one line
    each) is at most `max_chars`. A line longer than `max_chars` is cut to fit."""
    pages: list[list[str]] = []
    page: list[str] = []
    size = 0
    for whole in lines:
        line = whole if len(whole) <= max_chars else whole[: max_chars - 1] + "…"
        added = len(line) + (1 if page else 0)
        if page and (len(page) >= per_page or size + added > max_chars):
            pages.append(page)
            page, size, added = [], 0, len(line)
        page.append(line)
        size += added
    if page:
        pages.append(page)
    return pages


def queue_embed(
    locale: discord.Locale | str, playback: Playback | None, tracks: list[Track], page: int
) -> discord.Embed:
    """The /queue embed: the current track (`playback`: how it plays, None if stopped), then
    one page of what comes next. Within Discord's embed limits whatever the titles and links:
    a page holds at most QUEUE_PAGE_SIZE entries and FIELD_VALUE_MAX characters."""

    def say(key: str, **values: object) -> str:
        return text(locale, key, **values)

    def duration(seconds: int | None) -> str:
        return clock(seconds) if seconds is not None else say("music.unknown")

    current, upcoming = tracks[0], tracks[1:]
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
            total=duration(current.duration_seconds),
            requester=f"<@{current.requester_id}>",
        ),
        inline=False,
    )
    entries = [
        say(
            "music.queue_entry",
            position=offset + 2,  # the current track is number 1
            title=shown_title(track),
            duration=duration(track.duration_seconds),
            requester=f"<@{track.requester_id}>",
        )
        for offset, track in enumerate(upcoming)
    ]
    paged = queue_pages(entries, per_page=QUEUE_PAGE_SIZE, max_chars=FIELD_VALUE_MAX)
    pages = max(1, len(paged))
    page = min(page, pages)
    lines = paged[page - 1] if paged else []
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


class InteractionRequester:
    """The member who asked for a track, told through their /play (a private followup)."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction

    async def tell_track_failed(self, track: Track) -> None:
        title = display_title(track.title)
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

    @staticmethod
    def _guild_id(interaction: discord.Interaction) -> int:
        assert interaction.guild_id is not None  # the commands are guild_only
        return interaction.guild_id

    def _check_same_channel(self, interaction: discord.Interaction) -> None:
        """Controlling the music takes being in the channel it plays in."""
        current = self._players.channel_id(self._guild_id(interaction))
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
        if (refusal := stage_refusal(interaction, request.channel_id)) is not None:
            raise UserFacingError(refusal)
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
        guild_id = self._guild_id(interaction)
        # The queue is in the store (PostgreSQL: over the network): acknowledge first.
        await self._acknowledge(interaction, public=self._queues.has_tracks_in_memory(guild_id))
        tracks = await self._queues.tracks(guild_id)
        if not tracks:
            await answer(interaction, for_interaction(interaction, "music.queue_empty"))
            return
        player = self._players.get(guild_id)  # none: not in voice, nothing playing
        now = player.now if player is not None else None
        playback = now if now is not None and now.track == tracks[0] else None
        embed = queue_embed(interaction.locale, playback, tracks, page)
        await answer(interaction, embed=embed, ephemeral=False)

    @app_commands.command(name="skip", description="Skip the song playing")
    @app_commands.guild_only()
    async def skip(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild_id(interaction)
        self._check_same_channel(interaction)
        current = self._players.get(guild_id)
        playing = current is not None and current.now is not None
        public = playing or self._queues.has_tracks_in_memory(guild_id)
        await self._acknowledge(interaction, public=public)  # the stored queue changes
        with self._players.using(guild_id) as player:
            skipped = await player.skip()
        if skipped is None:
            raise UserFacingError(for_interaction(interaction, "music.nothing_playing"))
        await self._announce(interaction, "music.skipped", title=shown_title(skipped))

    @app_commands.command(name="stop", description="Stop the music, clear the queue and leave")
    @app_commands.guild_only()
    async def stop(self, interaction: discord.Interaction) -> None:
        guild_id = self._guild_id(interaction)
        self._check_same_channel(interaction)
        in_voice = self._players.channel_id(guild_id) is not None
        public = in_voice or self._queues.has_tracks_in_memory(guild_id)
        await self._acknowledge(interaction, public=public)  # the stored queue is cleared
        if not in_voice and not await self._queues.tracks(guild_id):
            raise UserFacingError(for_interaction(interaction, "music.nothing_playing"))
        with self._players.using(guild_id) as player:
            dropped = await player.stop()
        await self._announce(interaction, "music.stopped", count=dropped)

    @app_commands.command(name="pause", description="Pause the song playing")
    @app_commands.guild_only()
    async def pause(self, interaction: discord.Interaction) -> None:
        self._check_same_channel(interaction)
        player = self._players.get(self._guild_id(interaction))
        paused = player.pause() if player is not None else None
        if paused is None:
            raise UserFacingError(for_interaction(interaction, "music.nothing_playing"))
        await self._announce(interaction, "music.paused", title=shown_title(paused))

    @app_commands.command(name="resume", description="Resume the music, or carry on with the queue")
    @app_commands.guild_only()
    async def resume(self, interaction: discord.Interaction) -> None:
        channel_id = member_voice_channel_id(interaction)
        if channel_id is None:
            raise UserFacingError(for_interaction(interaction, "voice.join_first"))
        self._check_same_channel(interaction)
        with self._players.using(self._guild_id(interaction)) as player:
            resumed = await self._resume(interaction, player, channel_id)
        if resumed is None:
            raise UserFacingError(for_interaction(interaction, "music.nothing_to_resume"))
        await self._announce(interaction, "music.resumed", title=shown_title(resumed))

    async def _resume(
        self, interaction: discord.Interaction, player: GuildPlayer, channel_id: int
    ) -> Track | None:
        if player.now is None:
            # Carrying on reads the stored queue, joins the channel and resolves the track.
            await self._acknowledge(
                interaction, public=self._queues.has_tracks_in_memory(player.guild_id)
            )
            if await self._queues.head(player.guild_id) is None:
                raise UserFacingError(for_interaction(interaction, "music.nothing_to_resume"))
            try:
                await player.join(channel_id)
            except JoinRefused as refused:
                raise cannot_join(interaction, refused) from refused
        return await player.resume(channel_id)

    @staticmethod
    async def _acknowledge(interaction: discord.Interaction, *, public: bool) -> None:
        """Defer before the store is read. Discord gives the first answer after a defer the
        defer's visibility, whatever that answer asks: so defer publicly only when memory
        already shows there is something to act on (the answer will be a public line), else
        privately (a refusal stays private; after a restart, before the queue is read, a
        success is answered privately too)."""
        await interaction.response.defer(ephemeral=not public, thinking=True)

    async def _announce(self, interaction: discord.Interaction, key: str, **values: object) -> None:
        """A short public line, so the channel sees who changed the music."""
        text = for_interaction(interaction, key, user=interaction.user.mention, **values)
        await answer(interaction, text, ephemeral=False, suppress_embeds=True)
