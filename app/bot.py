"""The Bot: a thin `commands.AutoShardedBot` that receives its services, built by
`app.composition`; it runs the shards `app.sharding` claims for it (all of them unless
`SHARD_COUNT`/`SHARD_IDS` say otherwise)."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import discord
import yarl
from discord.ext import commands

from app.composition import Services, register_cogs
from app.settings import Settings
from app.sharding import ShardGate, resume_after_failed_reconnects
from commands.errors import BotCommandTree
from commands.i18n import CatalogueTranslator
from commands.voice_audio import load_opus
from services.voice.voice_player import VoicePlayers

log = logging.getLogger(__name__)


# The privileged intents, by the names the Developer Portal gives them (Bot > Privileged
# Gateway Intents): Discord refuses a session that asks for one the portal has not enabled.
PRIVILEGED_INTENTS = {
    "presences": "Presence Intent",
    "members": "Server Members Intent",
    "message_content": "Message Content Intent",
}


def bot_intents() -> discord.Intents:
    """The gateway intents the bot asks for."""
    intents = discord.Intents.default()
    intents.message_content = True  # privileged: enable it in the Developer Portal too
    return intents


def privileged_intents(intents: discord.Intents) -> list[str]:
    """The Developer Portal's names of the privileged intents among `intents`."""
    return [name for flag, name in PRIVILEGED_INTENTS.items() if getattr(intents, flag)]


class AzureBot(commands.AutoShardedBot):
    def __init__(self, settings: Settings, services: Services) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(),
            tree_cls=BotCommandTree,
            help_command=None,
            # Nobody is ever pinged by the bot, whatever text ends up in a message.
            allowed_mentions=discord.AllowedMentions.none(),
            **_shard_options(settings),
        )
        self.settings = settings
        self.services = services
        # Why the bot stopped on its own (a shard lease lost), for the exit line.
        self.stopped_because: str | None = None
        self.shard_gate = ShardGate(
            services.leases,
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,
            lease_seconds=settings.shard_lease_seconds,
            lost=self._shard_lost,
        )
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

    async def connect(self, *, reconnect: bool = True) -> None:
        # Logged in (sync stops there), not connected yet: which shards to run, claimed
        # before any IDENTIFY (ShardStartRefused stops here).
        plan = await self.shard_gate.open(self.http)
        self.shard_count, self.shard_ids = plan.count, list(plan.shard_ids)
        await super().connect(reconnect=reconnect)

    async def launch_shard(
        self, gateway: yarl.URL, shard_id: int, *, initial: bool = False
    ) -> None:
        await super().launch_shard(gateway, shard_id, initial=initial)
        launched = self.get_shard(shard_id)
        if launched is not None:
            resume_after_failed_reconnects(launched._parent)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # Instead of discord.py's 5 s sleep within this process: the bucket's turn across
        # every process on the store (the first IDENTIFY of a process waits too).
        await self.shard_gate.before_identify(shard_id)

    async def reconnect_shard(self, shard_id: int) -> None:
        """The watchdog's remedy for one shard stuck down: close its connection and connect
        it again (RESUME first, see `resume_after_failed_reconnects`); the other shards are
        not touched."""
        shard = self.get_shard(shard_id)
        if shard is None:
            log.warning("watchdog: shard %d has no connection yet: nothing to reconnect", shard_id)
            return
        await shard.reconnect()

    def _shard_lost(self, line: str) -> None:
        self.stopped_because = line
        self.services.tasks.spawn(self.close(), "shutdown: shard lease lost")

    async def close(self) -> None:
        # Leave voice while the gateway is still there; the services close after the bot.
        try:
            await self.services.voice_players.close()
            await super().close()
        finally:
            await self.shard_gate.close()  # no session left on these shards: free them


def _shard_options(settings: Settings) -> dict[str, Any]:
    """SHARD_COUNT and SHARD_IDS as discord.py takes them (unset: it asks Discord)."""
    options: dict[str, Any] = {"shard_count": settings.shard_count}
    if settings.shard_ids is not None:
        options["shard_ids"] = list(settings.shard_ids)
    return options


def unreadable_gateway_event(error: BaseException) -> str | None:
    """The gateway event (READY, PRESENCE_UPDATE...) whose payload discord.py raised `error`
    reading, or None when `error` came from elsewhere. Its parsers run inside
    `DiscordWebSocket.received_message`, whose local `event` names the event; an exception
    from a parser ends `bot.start()` with the frames of that call in its traceback."""
    event = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        code = frame.f_code
        if code.co_name == "received_message" and frame.f_globals.get("__name__") == (
            "discord.gateway"
        ):
            named = frame.f_locals.get("event")
            event = named if isinstance(named, str) else event
    return event


def point_at_discord(settings: Settings) -> None:
    """discord.py has no option for its hosts: REST and gateway proxies are class attributes."""
    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
