"""`python -m app sync`: publish the slash commands over HTTP, without the gateway.

Discord rate-limits command creation (about 200 a day per guild), so this is an operator's
step, never something the bot does on every start.
"""

from __future__ import annotations

import contextlib
import sys

import aiohttp
import discord

from app.bot import AzureBot
from app.composition import open_services
from app.settings import Settings
from services.encryption import EncryptionKeyError
from services.store.postgres import StoreSchemaError, StoreUnavailableError


async def sync_commands(settings: Settings, *, guild_id: int | None, clear: bool) -> int:
    async with contextlib.AsyncExitStack() as opened:
        try:
            services = await opened.enter_async_context(open_services(settings))
        except (EncryptionKeyError, StoreUnavailableError, StoreSchemaError) as error:
            print(error, file=sys.stderr)
            return 1
        bot = await opened.enter_async_context(AzureBot(settings, services))
        try:
            await bot.login(settings.discord_token.reveal())  # HTTP only; runs setup_hook
        except discord.LoginFailure:
            print(
                "DISCORD_TOKEN was rejected by Discord: check it (see .env.example).",
                file=sys.stderr,
            )
            return 1
        except aiohttp.ClientConnectionError as error:
            print(
                f"Could not reach Discord ({error}): check the network and DISCORD_API_BASE.",
                file=sys.stderr,
            )
            return 1
        guild = discord.Object(id=guild_id) if guild_id is not None else None
        if clear:
            bot.tree.clear_commands(guild=guild)
        elif guild is not None:
            bot.tree.copy_global_to(guild=guild)
        where = f"guild {guild_id}" if guild_id is not None else "all guilds (global)"
        try:
            synced = await bot.tree.sync(guild=guild)
        except discord.NotFound:
            print(
                f"Guild {guild_id} was not found: check the id and that the bot is in it.",
                file=sys.stderr,
            )
            return 1
        except discord.Forbidden:
            print(
                f"Discord refused to sync to {where}: invite the bot with the "
                "applications.commands scope.",
                file=sys.stderr,
            )
            return 1
        if clear:
            print(f"Cleared the slash commands of {where}.")
        else:
            print(f"Synced {len(synced)} command(s) to {where}:")
            for command in synced:
                print(f"  /{command.name}: {command.description}")
    return 0
