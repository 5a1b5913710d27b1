"""The Bot, and the composition root that builds every service once and hands it over."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import discord
import imageio_ffmpeg
import yarl
from discord.ext import commands

from app.settings import Settings
from commands.chat import ChatListener
from commands.errors import BotCommandTree
from commands.i18n import CatalogueTranslator
from commands.music import Music
from commands.persona import PersonaCommands
from commands.presence import Presence
from commands.retention import Retention
from commands.say import Say
from commands.temperature import TemperatureCommands
from commands.voice_audio import (
    DiscordVoiceConnector,
    FFmpegAudio,
    VoiceConnect,
    connect_discord_voice,
    load_opus,
)
from commands.voice_watch import VoiceWatch
from services.background import BackgroundTasks
from services.conversation import ConversationService
from services.cooldown import Cooldown
from services.encryption import cipher_for
from services.llm import AzureChatModel
from services.music_queue import MusicQueues
from services.music_source import MusicResolver
from services.persona import Persona, PersonaService
from services.play_request import PlayRequests
from services.privacy import PrivacyService
from services.reply_policy import FloodGuard, ReplyPolicy
from services.store import TinyStore
from services.temperature import TemperatureSettings
from services.tts import SpeechCache, SpeechSynthesizer
from services.voice_player import VoicePlayers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    store: TinyStore
    model: AzureChatModel
    policy: ReplyPolicy
    personas: PersonaService
    temperature: TemperatureSettings
    conversation: ConversationService
    privacy: PrivacyService
    # The member's persona, or None when they are not (or no longer) to be profiled.
    persona_if_allowed: Callable[[int, int], Awaitable[Persona | None]]
    music_queues: MusicQueues
    music_resolver: MusicResolver
    speech: SpeechSynthesizer | None  # None: no ElevenLabs key or voice configured

    async def close(self) -> None:
        try:
            await self.personas.wait_idle()  # a rebuild in flight still writes its profile
            await self.model.close()
            if self.speech is not None:
                await self.speech.close()
        finally:
            await self.store.close()


def find_ffmpeg() -> str:
    """The system's FFmpeg (Debian's, in Docker) if there is one, else the wheel's static one."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def build_services(settings: Settings) -> Services:
    cipher = cipher_for(settings.data_dir, settings.store_encryption_key.reveal())
    store = TinyStore(settings.data_dir, cipher=cipher)
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
    privacy = PrivacyService(
        store=store,
        state=store,
        personas=personas,
        consent_mode=settings.profile_consent,
        retention=timedelta(days=settings.retention_days),
    )

    async def persona_if_allowed(guild_id: int, member_id: int) -> Persona | None:
        if not await privacy.may_profile(guild_id, member_id):
            return None
        return await personas.get(guild_id, member_id)

    conversation = ConversationService(
        store=store,
        model=model,
        personas=persona_if_allowed,
        temperature=temperature.effective,
        context_messages=settings.context_messages,
    )
    speech = None
    if settings.speech_configured:
        speech = SpeechSynthesizer(
            api_key=settings.elevenlabs_api_key.reveal(),
            voice_id=settings.elevenlabs_voice_id,
            model_id=settings.elevenlabs_model_id,
            base_url=settings.elevenlabs_base_url,
            timeout=settings.elevenlabs_timeout,
            cache=SpeechCache(settings.data_dir / "speech-cache"),
        )
    return Services(
        store=store,
        model=model,
        policy=ReplyPolicy(store, every=settings.reply_every),
        personas=personas,
        temperature=temperature,
        conversation=conversation,
        privacy=privacy,
        persona_if_allowed=persona_if_allowed,
        music_queues=MusicQueues(store, max_length=settings.music_max_queue),
        music_resolver=MusicResolver(
            allowed_hosts=settings.music_allowed_hosts,
            max_seconds=settings.music_max_minutes * 60,
            allow_private_hosts=settings.music_allow_private_hosts,
            allow_generic_extractor=settings.music_generic_extractor,
            timeout=settings.music_timeout_seconds,
        ),
        speech=speech,
    )


class AzureBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        services: Services,
        *,
        connect_voice: VoiceConnect = connect_discord_voice,
    ) -> None:
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
        self._connect_voice = connect_voice
        self.background_tasks = BackgroundTasks()
        audio = FFmpegAudio(
            ffmpeg=find_ffmpeg(), max_stream_seconds=services.music_resolver.max_seconds
        )
        self.voice_players = VoicePlayers(
            queues=services.music_queues,
            finder=services.music_resolver,
            connector=DiscordVoiceConnector(self, connect_voice),
            streams=audio,
            speech_files=audio,
            idle_seconds=settings.voice_idle_seconds,
            tasks=self.background_tasks,
        )

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
                flood=FloodGuard(),
                privacy=services.privacy,
                channel_ids=settings.channel_ids,
                guild_id=settings.guild_id,
            )
        )
        accepts_temperature = lambda: services.model.accepts_temperature  # noqa: E731
        await self.add_cog(
            PersonaCommands(
                personas=services.personas,
                privacy=services.privacy,
                temperature=services.temperature,
                accepts_temperature=accepts_temperature,
            )
        )
        await self.add_cog(
            TemperatureCommands(
                temperature=services.temperature,
                persona_of=services.persona_if_allowed,
                accepts_temperature=accepts_temperature,
            )
        )
        await self.add_cog(Retention(services.privacy))
        players = self.voice_players
        await self.add_cog(
            Music(
                self,
                players=players,
                requests=PlayRequests(
                    players=players, queues=services.music_queues, finder=services.music_resolver
                ),
                queues=services.music_queues,
                resolver=services.music_resolver,
                tasks=self.background_tasks,
            )
        )
        await self.add_cog(
            Say(
                self,
                players=players,
                speech=services.speech,
                max_chars=settings.say_max_chars,
                cooldown=Cooldown(settings.say_cooldown_seconds),
            )
        )
        await self.add_cog(VoiceWatch(self, players=players))
        await self.add_cog(
            Presence(self, channel_ids=settings.channel_ids, now_playing=players.now_playing)
        )
        if self._connect_voice is connect_discord_voice and not load_opus():
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
        try:
            await self.voice_players.close()
            await super().close()
            await self.background_tasks.close()
        finally:
            await self.services.close()


def point_at_discord(settings: Settings) -> None:
    """discord.py has no option for its hosts: REST and gateway proxies are class attributes."""
    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def build_bot(
    settings: Settings, *, connect_voice: VoiceConnect = connect_discord_voice
) -> AzureBot:
    return AzureBot(settings, build_services(settings), connect_voice=connect_voice)
