"""One error policy for every slash command (Red-DiscordBot's ladder, in a CommandTree)."""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

log = logging.getLogger(__name__)


class UserFacingError(app_commands.AppCommandError):
    """A problem the member can fix; its message is shown to them as is, ephemerally."""


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    none = discord.AllowedMentions.none()
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)


def explain(error: app_commands.AppCommandError) -> str | None:
    """The sentence for an error a member can act on, or None for a bug."""
    if isinstance(error, UserFacingError):
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} seconds."
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(p.replace("_", " ").title() for p in error.missing_permissions)
        return f"You need the {needed} permission for that."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in the server, not in direct messages."
    if isinstance(error, app_commands.TransformerError):
        return f"{error.value!r} is not a valid value for that option: pick one Discord offers."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, app_commands.CommandNotFound):
        return "That command is not available any more; Discord will update its list shortly."
    if isinstance(error, app_commands.CommandSignatureMismatch):
        return "That command changed; Discord will update its list shortly. Try again soon."
    return None


class BotCommandTree(app_commands.CommandTree[discord.Client]):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        sentence = explain(error)
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
            sentence = f"Sorry, something went wrong on my side. (reference {reference})"
        try:
            await send_ephemeral(interaction, sentence)
        except discord.HTTPException:
            log.warning("could not tell user %s about an error", interaction.user.id)
