"""One error policy for every slash command (Red-DiscordBot's ladder, in a CommandTree)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import discord
from discord import app_commands

from commands.i18n import ENGLISH, MESSAGES, for_interaction
from services import log_context

log = logging.getLogger(__name__)

_NO_PINGS = discord.AllowedMentions.none()
# Unknown interaction, unknown webhook: the token is no longer valid.
_EXPIRED = frozenset({10062, 10015})


class UserFacingError(app_commands.AppCommandError):
    """A problem the member can fix; its message (already in their language) is shown as is,
    ephemerally. Raise it with `for_interaction(interaction, key, ...)`."""


async def answer(
    interaction: discord.Interaction,
    text: str | None = None,
    *,
    ephemeral: bool = True,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    suppress_embeds: bool = False,
) -> bool:
    """Answer the interaction, whether or not it was already acknowledged (deferred or
    answered once): the first answer is the response, the next ones are followups. Pings
    no one. An interaction that expired (15 minutes, or a token Discord no longer knows) is
    logged and skipped: False."""
    extra: dict[str, Any] = {}
    if embed is not None:
        extra["embed"] = embed
    if view is not None:
        extra["view"] = view
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                text if text is not None else discord.utils.MISSING,
                ephemeral=ephemeral,
                allowed_mentions=_NO_PINGS,
                suppress_embeds=suppress_embeds,
                **extra,
            )
        else:
            await interaction.response.send_message(
                text,
                ephemeral=ephemeral,
                allowed_mentions=_NO_PINGS,
                suppress_embeds=suppress_embeds,
                **extra,
            )
    except discord.NotFound as error:
        if error.code not in _EXPIRED:
            raise
        log.info("interaction of user %s expired before it was answered", interaction.user.id)
        return False
    return True


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    await answer(interaction, text)


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
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # Every log line of this command (its task) names its guild and channel.
        log_context.bind(guild=interaction.guild_id, channel=interaction.channel_id)
        return True

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
