"""One error policy for every slash command (Red-DiscordBot's ladder, in a CommandTree)."""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from commands.i18n import ENGLISH, MESSAGES, for_interaction

log = logging.getLogger(__name__)


class UserFacingError(app_commands.AppCommandError):
    """A problem the member can fix; its message (already in their language) is shown as is,
    ephemerally. Raise it with `for_interaction(interaction, key, ...)`."""


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    none = discord.AllowedMentions.none()
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)


def explain(interaction: discord.Interaction, error: app_commands.AppCommandError) -> str | None:
    """The sentence for an error a member can act on, or None for a bug."""
    if isinstance(error, UserFacingError):
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return for_interaction(interaction, "error.cooldown", seconds=f"{error.retry_after:.0f}")
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(
            for_interaction(interaction, f"permission.{p}")
            if f"permission.{p}" in MESSAGES[ENGLISH]
            else p.replace("_", " ").title()
            for p in error.missing_permissions
        )
        return for_interaction(interaction, "error.missing_permissions", permissions=needed)
    if isinstance(error, app_commands.NoPrivateMessage):
        return for_interaction(interaction, "error.guild_only")
    if isinstance(error, app_commands.TransformerError):
        return for_interaction(interaction, "error.bad_value", value=repr(error.value))
    if isinstance(error, app_commands.CheckFailure):
        return for_interaction(interaction, "error.check_failed")
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return for_interaction(interaction, "error.outdated")
    return None


class BotCommandTree(app_commands.CommandTree[discord.Client]):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        sentence = explain(interaction, error)
        if sentence is None:
            reference = secrets.token_hex(4)
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error(
                "command /%s failed (ref %s, user %s, guild %s)",
                command,
                reference,
                interaction.user.id,
                interaction.guild_id,
                exc_info=error,
            )
            sentence = for_interaction(interaction, "error.internal", reference=reference)
        try:
            await send_ephemeral(interaction, sentence)
        except discord.HTTPException:
            log.warning("could not tell user %s about an error", interaction.user.id)
