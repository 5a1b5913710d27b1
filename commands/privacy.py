"""/privacy: what the bot keeps, why, for how long, who receives it, and how a member sees,
exports, deletes it or opts out; with the operator's privacy policy linked when there is one.
Everything it says is in memory (the operator's settings), so it answers at once."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from commands.errors import answer
from commands.i18n import for_interaction


class PrivacyCog(commands.Cog):
    def __init__(
        self,
        *,
        retention_days: int,
        grace_hours: float,
        encrypted: bool,
        speech: bool,
        policy_url: str,
    ) -> None:
        self._retention_days = retention_days
        self._grace_hours = grace_hours
        self._encrypted = encrypted
        self._speech = speech
        self._policy_url = policy_url

    @app_commands.command(
        name="privacy",
        description="What the bot keeps about you, why, for how long, and who sees it",
    )
    async def privacy(self, interaction: discord.Interaction) -> None:
        def t(key: str, **values: object) -> str:
            return for_interaction(interaction, key, **values)

        embed = discord.Embed(
            title=t("privacy.title"),
            description=t("privacy.intro"),
            colour=discord.Colour.blurple(),
            url=self._policy_url or None,
        )
        embed.add_field(
            name=t("privacy.kept"),
            value=t("privacy.kept_value", days=self._retention_days),
            inline=False,
        )
        embed.add_field(name=t("privacy.why"), value=t("privacy.why_value"), inline=False)
        recipients = t("privacy.recipients_value")
        if self._speech:
            recipients += "\n" + t("privacy.recipients_speech")
        embed.add_field(name=t("privacy.recipients"), value=recipients, inline=False)
        embed.add_field(
            name=t("privacy.how_long"),
            value=t(
                "privacy.how_long_value",
                days=self._retention_days,
                hours=f"{self._grace_hours:g}",
            ),
            inline=False,
        )
        embed.add_field(
            name=t("privacy.encryption"),
            value=t("privacy.encrypted" if self._encrypted else "privacy.not_encrypted"),
            inline=False,
        )
        embed.add_field(name=t("privacy.controls"), value=t("privacy.controls_value"), inline=False)
        if self._policy_url:
            embed.add_field(
                name=t("privacy.policy"), value=f"[{t('privacy.policy_link')}]({self._policy_url})"
            )
        await answer(interaction, embed=embed, ephemeral=True)
