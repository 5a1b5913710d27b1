"""/say: the bot speaks the member's text in their voice channel (ElevenLabs)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from commands.errors import UserFacingError, answer
from commands.i18n import for_interaction
from commands.voice_audio import cannot_join, member_voice_channel_id, mention, stage_refusal
from services.cooldown import Cooldown
from services.tts import SpeechError, SpeechSynthesizer
from services.voice.voice_player import VoicePlayers
from services.voice.voice_ports import JoinRefused


class SayCog(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        players: VoicePlayers,
        speech: SpeechSynthesizer | None,
        max_chars: int,
        cooldown: Cooldown,
    ) -> None:
        self._bot = bot
        self._players = players
        self._speech = speech  # None: no ElevenLabs key or voice configured
        self._max_chars = max_chars
        self._cooldown = cooldown

    @app_commands.command(name="say", description="Say something in your voice channel")
    @app_commands.describe(text="What the bot should say")
    @app_commands.guild_only()
    async def say(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 2000]
    ) -> None:
        if self._speech is None:
            raise UserFacingError(for_interaction(interaction, "say.not_configured"))
        if len(text) > self._max_chars:
            raise UserFacingError(
                for_interaction(
                    interaction, "say.too_long", length=len(text), limit=self._max_chars
                )
            )
        channel_id = member_voice_channel_id(interaction)
        if channel_id is None:
            raise UserFacingError(for_interaction(interaction, "voice.join_first"))
        assert interaction.guild_id is not None  # guild_only
        try:
            self._players.check_channel(interaction.guild_id, channel_id)
        except JoinRefused as refused:
            raise cannot_join(interaction, refused) from refused
        if (refusal := stage_refusal(interaction, channel_id)) is not None:
            raise UserFacingError(refusal)  # before any speech is paid for
        key = (interaction.guild_id, interaction.user.id)
        if not self._cooldown.try_acquire(key):
            seconds = f"{max(1.0, self._cooldown.remaining(key)):.0f}"
            raise UserFacingError(for_interaction(interaction, "error.cooldown", seconds=seconds))
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            spoken = await self._speech.speak(text)
        except SpeechError as error:
            raise UserFacingError(
                for_interaction(interaction, f"say.failed_{error.kind}")
            ) from error
        with self._players.using(interaction.guild_id) as player:
            try:
                await player.join(channel_id)
            except JoinRefused as refused:
                raise cannot_join(interaction, refused) from refused
            await player.speak(channel_id, spoken)
        await answer(
            interaction, for_interaction(interaction, "say.done", channel=mention(channel_id))
        )
