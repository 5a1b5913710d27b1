"""/setup character's form: the bot's name here and a description of how it talks, for a
server or one channel. Its submission is a new interaction, checked again before anything is
stored."""

from __future__ import annotations

import logging
import secrets

import discord

from commands.errors import answer
from commands.i18n import for_interaction
from services.servers.settings import MAX_DESCRIPTION, MAX_NAME, Character, ServerSettings

log = logging.getLogger(__name__)

# Text (and announcement) channels and forums: where members write and the bot can answer.
WatchableChannel = discord.TextChannel | discord.ForumChannel


class CharacterModal(discord.ui.Modal):
    """The server's words about the bot: a name and a description, for a server or a channel."""

    def __init__(
        self,
        interaction: discord.Interaction,
        *,
        servers: ServerSettings,
        guild_id: int,
        channel: WatchableChannel | None,
        current: Character | None,
    ) -> None:
        super().__init__(title=for_interaction(interaction, "setup.character_title"), timeout=600)
        self._servers = servers
        self._guild_id = guild_id
        self._channel = channel
        self.name: discord.ui.TextInput[CharacterModal] = discord.ui.TextInput(
            label=for_interaction(interaction, "setup.character_name"),
            max_length=MAX_NAME,
            default=current.name if current else None,
        )
        self.description: discord.ui.TextInput[CharacterModal] = discord.ui.TextInput(
            label=for_interaction(interaction, "setup.character_description"),
            style=discord.TextStyle.paragraph,
            max_length=MAX_DESCRIPTION,
            placeholder=for_interaction(interaction, "setup.character_description_hint"),
            default=current.description if current else None,
        )
        self.add_item(self.name)
        self.add_item(self.description)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        if not interaction.permissions.manage_guild:  # lost it while the form was open
            raise_missing = for_interaction(
                interaction, "error.missing_permissions", permissions="Manage Server"
            )
            await answer(interaction, raise_missing)
            return
        # Discord's client holds the lengths, but a raw request can send anything.
        try:
            character = Character.checked(self.name.value, self.description.value)
        except ValueError:
            empty = not self.name.value.strip() or not self.description.value.strip()
            key = "setup.character_empty" if empty else "setup.character_too_long"
            await answer(
                interaction,
                for_interaction(interaction, key, name=MAX_NAME, description=MAX_DESCRIPTION),
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = self._channel
        await self._servers.set_character(
            self._guild_id, character, channel.id if channel else None
        )
        where = channel.mention if channel else for_interaction(interaction, "setup.this_server")
        await answer(
            interaction,
            for_interaction(interaction, "setup.character_set", where=where, name=character.name),
        )

    async def on_error(  # type: ignore[override]  # a modal's on_error has no item
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        reference = secrets.token_hex(4)
        log.error("the character form failed (ref %s)", reference, exc_info=error)
        await answer(
            interaction, for_interaction(interaction, "error.internal", reference=reference)
        )
