"""The Bot: a thin `commands.Bot` that receives its services, built by `app.composition`."""

from __future__ import annotations

import logging
from typing import Any

import discord
import yarl
from discord.ext import commands

from app.composition import Services, register_cogs
from app.settings import Settings
from commands.errors import BotCommandTree
from commands.i18n import CatalogueTranslator
from commands.voice_audio import load_opus
from services.voice_player import VoicePlayers

log = logging.getLogger(__name__)


class AzureBot(commands.Bot):
    def __init__(self, settings: Settings, services: Services) -> None:
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
        self.services = services
        services.voice_connector.attach(self)

    @property
    def voice_players(self) -> VoicePlayers:
        return self.services.voice_players

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogueTranslator())
        await register_cogs(self, self.settings, self.services)
        if self.services.real_voice and not load_opus():
            log.warning("libopus not found: /play and /say will answer that voice is unavailable")

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        # A gateway event still being read while the bot closes has nowhere to go.
        if not self.is_closed():
            super().dispatch(event_name, *args, **kwargs)

    async def on_message(self, message: discord.Message, /) -> None:
        # Everything is a slash command or the passive listener (a cog); no prefix commands.
        return

    async def on_ready(self) -> None:
        log.info("connected as %s to %d guild(s)", self.user, len(self.guilds))

    async def close(self) -> None:
        # Leave voice while the gateway is still there; the services close after the bot.
        await self.services.voice_players.close()
        await super().close()


def point_at_discord(settings: Settings) -> None:
    """discord.py has no option for its hosts: REST and gateway proxies are class attributes."""
    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
