"""/persona: a member sees their own profile and controls their data."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands

from commands.confirm import confirmed
from commands.errors import UserFacingError, answer
from commands.i18n import for_interaction
from services.conversation.persona import Persona, PersonaService
from services.conversation.temperature import TemperatureSettings
from services.cooldown import Cooldown
from services.privacy.member_data import MemberData
from services.privacy.privacy import PrivacyService

log = logging.getLogger(__name__)

ACTIONS = ["show", "refresh", "forget", "opt-out", "opt-in", "export"]
REFRESH_COOLDOWN = timedelta(minutes=10)


# Discord refuses the whole embed over one field: a value empty or over 1,024 characters.
# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
FIELD_VALUE_LIMIT = 1024


def field_value(text: str) -> str:
    """The model's free text as an embed field value: a dash when blank, cut with an
    ellipsis past Discord's limit."""
    text = text.strip()
    if not text:
        return "—"
    return text if len(text) <= FIELD_VALUE_LIMIT else text[: FIELD_VALUE_LIMIT - 1] + "…"


def share_bar(share: float, width: int = 10) -> str:
    filled = round(max(0.0, min(1.0, share)) * width)
    return "▰" * filled + "▱" * (width - filled) + f" {share:.0%}"


class PersonaCog(commands.Cog):
    def __init__(
        self,
        *,
        personas: PersonaService,
        privacy: PrivacyService,
        temperature: TemperatureSettings,
        accepts_temperature: Callable[[], bool],
        member_data: MemberData,
    ) -> None:
        self._member_data = member_data
        self._personas = personas
        self._privacy = privacy
        self._temperature = temperature
        self._accepts_temperature = accepts_temperature
        self._refresh_cooldown = Cooldown(REFRESH_COOLDOWN.total_seconds())

    @app_commands.command(
        name="persona", description="See how the bot sees your writing, and control your data"
    )
    @app_commands.describe(action="What to do (default: show your profile)")
    @app_commands.choices(action=[app_commands.Choice(name=a, value=a) for a in ACTIONS])
    @app_commands.guild_only()
    async def persona(
        self, interaction: discord.Interaction, action: app_commands.Choice[str] | None = None
    ) -> None:
        assert interaction.guild_id is not None
        chosen = action.value if action else "show"
        if chosen == "show":
            await self._show(interaction)
        elif chosen == "refresh":
            await self._refresh(interaction)
        elif chosen == "forget":
            await self._forget(interaction)
        elif chosen == "opt-out":
            # Deleting a member's messages and the bot's replies to them takes a while.
            await interaction.response.defer(ephemeral=True, thinking=True)
            forgotten = await self._privacy.opt_out(interaction.guild_id, interaction.user.id)
            await self._say(interaction, "persona.opted_out", messages=forgotten.messages)
        elif chosen == "opt-in":
            await interaction.response.defer(ephemeral=True, thinking=True)  # the store writes
            await self._privacy.opt_in(interaction.guild_id, interaction.user.id)
            await self._say(interaction, "persona.opted_in")
        elif chosen == "export":
            await self._export(interaction)
        else:
            raise UserFacingError(for_interaction(interaction, "persona.unknown_action"))

    async def _say(self, interaction: discord.Interaction, key: str, **values: object) -> None:
        await answer(interaction, for_interaction(interaction, key, **values))

    def _no_profile_key(self, guild_id: int, member_id: int) -> str:
        choice = self._privacy.choice(guild_id, member_id)
        if choice == "opted_out":
            return "persona.none_opted_out"
        if not self._privacy.may_profile(guild_id, member_id):
            return "persona.none_needs_opt_in"
        return "persona.none_yet"

    async def _show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        guild_id, member_id = interaction.guild_id, interaction.user.id
        if not self._privacy.may_profile(guild_id, member_id):
            await self._say(interaction, self._no_profile_key(guild_id, member_id))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # the store reads
        persona = await self._personas.stored(guild_id, member_id)
        if persona is None:
            await self._say(interaction, self._no_profile_key(guild_id, member_id))
            return
        await answer(interaction, embed=await self._embed(interaction, persona))

    async def _embed(self, interaction: discord.Interaction, persona: Persona) -> discord.Embed:
        def t(key: str, **values: object) -> str:
            return for_interaction(interaction, key, **values)

        figures = persona.figures
        temperature = await self._temperature.effective(
            persona.guild_id, persona.suggested_temperature
        )
        embed = discord.Embed(
            title=t("persona.title", name=interaction.user.display_name),
            description=persona.summary,
            colour=discord.Colour.blurple(),
        )
        embed.add_field(name=t("persona.tone"), value=field_value(persona.tone))
        embed.add_field(name=t("persona.reply_style"), value=t(f"style.{persona.reply_style}"))
        embed.add_field(name=t("persona.language"), value=field_value(persona.language))
        hours = ", ".join(f"{hour:02d}h" for hour in figures.active_hours) or "—"
        embed.add_field(
            name=t("persona.figures"),
            value="\n".join(
                [
                    t("persona.average_length", length=f"{figures.average_length:.0f}"),
                    f"{t('persona.questions')} {share_bar(figures.question_share)}",
                    f"{t('persona.exclamations')} {share_bar(figures.exclamation_share)}",
                    f"{t('persona.emoji')} {share_bar(figures.emoji_share)}",
                    f"{t('persona.capitals')} {share_bar(figures.capitals_share)}",
                    f"{t('persona.links')} {share_bar(figures.link_share)}",
                    t("persona.active_hours", hours=hours),
                ]
            ),
            inline=False,
        )
        temperature_value = (
            f"{temperature.value:.2f}"
            if self._accepts_temperature()
            else t("persona.temperature_fixed")
        )
        embed.add_field(name=t("persona.temperature"), value=temperature_value)
        embed.add_field(
            name=t("persona.built"),
            value=t(
                "persona.built_value",
                count=persona.built_from,
                when=discord.utils.format_dt(persona.built_at, "R"),
            ),
        )
        embed.add_field(
            name=t("persona.kept"),
            value=t("persona.kept_value", days=self._privacy.retention.days),
            inline=False,
        )
        return embed

    async def _refresh(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        guild_id, member_id = interaction.guild_id, interaction.user.id
        if not self._privacy.may_profile(guild_id, member_id):
            await self._say(interaction, self._no_profile_key(guild_id, member_id))
            return
        if not self._refresh_cooldown.try_acquire((guild_id, member_id)):
            wait = self._refresh_cooldown.remaining((guild_id, member_id))
            await self._say(interaction, "persona.refresh_cooldown", minutes=int(wait // 60) + 1)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # Azure takes seconds
        persona = await self._personas.rebuild(guild_id, member_id)
        if persona is None:
            await self._say(interaction, "persona.refresh_failed")
            return
        await interaction.followup.send(
            embed=await self._embed(interaction, persona), ephemeral=True
        )

    async def _forget(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        if not await confirmed(interaction, "persona.forget", custom_id="persona:forget"):
            return
        forgotten = await self._privacy.forget(interaction.guild_id, interaction.user.id)
        await interaction.edit_original_response(
            content=for_interaction(interaction, "persona.forgotten", messages=forgotten.messages),
            view=None,
        )

    async def _export(self, interaction: discord.Interaction) -> None:
        """Everything kept about the member, in every server, as an ephemeral file."""
        member_id = interaction.user.id
        await interaction.response.defer(ephemeral=True, thinking=True)  # the store reads
        refused = await self._member_data.may_export(member_id)
        if refused is not None:
            when = discord.utils.format_dt(refused.retry_at, "R")
            await self._say(interaction, "persona.export_wait", when=when)
            return
        try:
            exported = await self._member_data.export(
                member_id, size_limit=interaction.filesize_limit
            )
        except BaseException:
            await self._member_data.export_failed(member_id)  # may be asked again at once
            raise
        if len(exported.data) > interaction.filesize_limit:
            await self._member_data.export_failed(member_id)
            await self._say(interaction, "persona.export_too_big")
            return
        log.info("member %s exported their data (%d messages)", member_id, exported.messages)
        await interaction.followup.send(
            for_interaction(interaction, "persona.exported", messages=exported.messages),
            file=discord.File(io.BytesIO(exported.data), filename=exported.filename),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
