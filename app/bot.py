"""The Bot: built once from the settings, owning the services it hands to its cogs."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from app.settings import Settings
from commands.chat import ChatListener
from commands.errors import BotCommandTree
from commands.presence import Presence
from services.store import TinyStore

log = logging.getLogger(__name__)


class AzureBot(commands.Bot):
    def __init__(self, settings: Settings, *, store: TinyStore) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the Developer Portal too
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=BotCommandTree,
            help_command=None,
            # Nobody is ever pinged by the bot, whatever text ends up in a message.
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.store = store

    async def setup_hook(self) -> None:
        settings = self.settings
        await self.add_cog(
            ChatListener(
                self,
                store=self.store,
                channel_ids=settings.channel_ids,
                guild_id=settings.guild_id,
            )
        )
        await self.add_cog(
            Presence(self, channel_ids=settings.channel_ids, now_playing=lambda: None)
        )

    async def on_message(self, message: discord.Message, /) -> None:
        # Everything is a slash command or the passive listener (a cog); no prefix commands.
        return

    async def on_ready(self) -> None:
        log.info("connected as %s to %d guild(s)", self.user, len(self.guilds))

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.store.close()


def build_bot(settings: Settings) -> AzureBot:
    return AzureBot(settings, store=TinyStore(settings.data_dir))
