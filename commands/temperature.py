"""/temperature: how inventive the bot's replies to a member are, and why."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from commands.errors import UserFacingError, answer
from commands.i18n import for_interaction
from services.conversation.persona import Persona
from services.conversation.temperature import (
    MAX_BASE,
    MAX_EFFECTIVE,
    MIN_BASE,
    MIN_EFFECTIVE,
    TemperatureSettings,
)


def _is_allowed_base(value: object) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return math.isfinite(value) and MIN_BASE <= value <= MAX_BASE


# The member's stored persona (None: none yet, or not profiled); never builds one.
PersonaLookup = Callable[[int, int], Awaitable[Persona | None]]


class TemperatureCog(commands.Cog):
    def __init__(
        self,
        *,
        temperature: TemperatureSettings,
        persona_of: PersonaLookup,
        accepts_temperature: Callable[[], bool],
    ) -> None:
        self._temperature = temperature
        self._persona_of = persona_of
        self._accepts_temperature = accepts_temperature

    @app_commands.command(
        name="temperature", description="See the response temperature the bot uses with you"
    )
    @app_commands.guild_only()
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        # The persona and the base are in the store (PostgreSQL: over the network): answer
        # Discord first, its 3 seconds count from the command.
        await interaction.response.defer(ephemeral=True, thinking=True)
        persona = await self._persona_of(interaction.guild_id, interaction.user.id)
        suggested = persona.suggested_temperature if persona else None
        effective = await self._temperature.effective(interaction.guild_id, suggested)

        def t(key: str, **values: object) -> str:
            return for_interaction(interaction, key, **values)

        base_key = "temperature.base_default" if effective.base_is_default else "temperature.base"
        lines = [
            t("temperature.value", value=f"{effective.value:.2f}"),
            t(base_key, base=f"{effective.base:.2f}"),
            t("temperature.adjustment", adjustment=f"{effective.adjustment:+.2f}")
            if persona
            else t("temperature.no_persona"),
            t(
                "temperature.clamped" if effective.clamped else "temperature.within",
                low=f"{MIN_EFFECTIVE:.1f}",
                high=f"{MAX_EFFECTIVE:.1f}",
            ),
            t(
                "temperature.accepted"
                if self._accepts_temperature()
                else "temperature.not_accepted"
            ),
        ]
        await answer(interaction, "\n".join(lines))

    @app_commands.command(
        name="temperature-set",
        description="Set the server's base response temperature (Manage Server)",
    )
    @app_commands.describe(
        value="From 0.0 (predictable) to 2.0 (wild); the default is 0.8",
        reset="Go back to the default",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)  # hidden from other members
    @app_commands.checks.has_permissions(manage_guild=True)  # and checked on every use
    async def set_base(
        self,
        interaction: discord.Interaction,
        value: app_commands.Range[float, MIN_BASE, MAX_BASE] | None = None,
        reset: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        if not reset and value is None:
            raise UserFacingError(for_interaction(interaction, "temperature.set_what"))
        # Discord's client enforces type and range, but a raw request can send anything.
        if not reset and not _is_allowed_base(value):
            raise UserFacingError(
                for_interaction(
                    interaction, "temperature.out_of_range", low=MIN_BASE, high=MAX_BASE
                )
            )
        await interaction.response.defer(ephemeral=True, thinking=True)  # the store writes
        if reset or value is None:
            await self._temperature.set_base(interaction.guild_id, None)
            text = for_interaction(interaction, "temperature.reset_done")
        else:
            await self._temperature.set_base(interaction.guild_id, value)
            text = for_interaction(interaction, "temperature.set_done", value=f"{value:.2f}")
        await answer(interaction, text)
