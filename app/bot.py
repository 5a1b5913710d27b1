"""The Bot, and the composition root that builds every service once and hands it over."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import discord
from discord.ext import commands

from app.settings import Settings
from commands.chat import ChatListener
from commands.errors import BotCommandTree
from commands.i18n import CatalogueTranslator
from commands.presence import Presence
from services.conversation import ConversationService
from services.cooldown import Cooldown
from services.llm import AzureChatModel
from services.persona import PersonaService
from services.reply_policy import ReplyPolicy
from services.store import TinyStore
from services.temperature import TemperatureSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    store: TinyStore
    model: AzureChatModel
    policy: ReplyPolicy
    personas: PersonaService
    temperature: TemperatureSettings
    conversation: ConversationService

    async def close(self) -> None:
        try:
            await self.model.close()
        finally:
            await self.store.close()


def build_services(settings: Settings) -> Services:
    store = TinyStore(settings.data_dir)
    model = AzureChatModel(
        endpoint=settings.azure_openai_endpoint,
        api_key=settings.azure_openai_api_key.reveal(),
        api_version=settings.azure_openai_api_version,
        deployment=settings.azure_openai_deployment,
        timeout=settings.azure_openai_timeout,
    )
    personas = PersonaService(
        store=store,
        state=store,
        model=model,
        history=settings.persona_messages,
        refresh_after=settings.persona_refresh,
        min_interval=timedelta(minutes=settings.persona_min_minutes),
    )
    temperature = TemperatureSettings(store)

    conversation = ConversationService(
        store=store,
        model=model,
        personas=personas.get,
        temperature=temperature.effective,
        context_messages=settings.context_messages,
    )
    return Services(
        store=store,
        model=model,
        policy=ReplyPolicy(store, every=settings.reply_every),
        personas=personas,
        temperature=temperature,
        conversation=conversation,
    )


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

    async def setup_hook(self) -> None:
        settings, services = self.settings, self.services
        await self.tree.set_translator(CatalogueTranslator())
        await self.add_cog(
            ChatListener(
                self,
                store=services.store,
                policy=services.policy,
                conversation=services.conversation,
                mention_cooldown=Cooldown(settings.mention_cooldown_seconds),
                channel_ids=settings.channel_ids,
                guild_id=settings.guild_id,
            )
        )
        await self.add_cog(
            Presence(self, channel_ids=settings.channel_ids, now_playing=lambda: None)
        )

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
        try:
            await super().close()
        finally:
            await self.services.close()


def build_bot(settings: Settings) -> AzureBot:
    return AzureBot(settings, build_services(settings))
