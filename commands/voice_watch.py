"""Following the bot's voice channel: who is left in it, and whether the bot is still there."""

from __future__ import annotations

import discord
from discord.ext import commands

from services.voice.voice_player import VoicePlayers


class VoiceWatchCog(commands.Cog):
    """Reacts to voice state updates in a guild where the bot is in a voice channel.

    A member leaving or joining the bot's channel: with no human left, the player pauses and
    leaves after the idle time; someone coming back first carries on. The bot's own update
    without it having asked: a moderator disconnected it (the player stops, the queue stays) or
    moved it (it plays on there, unless nobody is in that channel). The bot removed from a
    guild: its player stops and goes.
    """

    def __init__(
        self, bot: commands.Bot | commands.AutoShardedBot, *, players: VoicePlayers
    ) -> None:
        self._bot = bot
        self._players = players

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        player = self._players.get(member.guild.id)
        if player is None or player.voice is None:
            return  # not in voice, or (leave() clears it first) leaving on its own
        if self._bot.user is not None and member.id == self._bot.user.id:
            if after.channel is None:
                await player.lost_connection()
                return
            channel: discord.abc.GuildChannel | None = after.channel
        else:
            channel_id = player.voice.channel_id
            changed = {c.id for c in (before.channel, after.channel) if c is not None}
            if channel_id is None or channel_id not in changed:
                return  # someone else's channel
            channel = member.guild.get_channel(channel_id)
        if isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            player.company_changed(any(not someone.bot for someone in channel.members))

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self._players.guild_removed(guild.id)
