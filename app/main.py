"""Command line entry: settings, logging, then the bot or the sync CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

import aiohttp
import discord

from app.bot import AzureBot, point_at_discord
from app.composition import open_services
from app.logging_setup import configure_logging
from app.settings import Settings, SettingsError, load_settings
from app.sync import sync_commands
from services.encryption import EncryptionKeyError
from services.store.postgres import (
    StoreSchemaError,
    StoreUnavailableError,
    known_migrations,
    migrate,
)

log = logging.getLogger("app")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app", description="Discord Azure Bot")
    sub = parser.add_subparsers(dest="command")
    sync = sub.add_parser("sync", help="sync the slash commands to a guild or globally")
    where = sync.add_mutually_exclusive_group()
    where.add_argument("--guild", type=int, metavar="ID", help="guild id (default: GUILD_ID)")
    where.add_argument("--global", dest="global_", action="store_true", help="sync globally")
    sync.add_argument("--clear", action="store_true", help="remove the commands instead")
    sub.add_parser("migrate", help="bring the PostgreSQL schema (DATABASE_URL) up to date")
    return parser.parse_args(argv)


def fail(line: str) -> int:
    print(line, file=sys.stderr)
    return 1


async def run_bot(settings: Settings) -> int:
    async with contextlib.AsyncExitStack() as opened:
        try:
            services = await opened.enter_async_context(open_services(settings))
        except OSError as error:
            return fail(f"DATA_DIR {settings.data_dir} is not usable: {error.strerror}.")
        except (EncryptionKeyError, StoreUnavailableError, StoreSchemaError) as error:
            return fail(str(error))
        bot = await opened.enter_async_context(AzureBot(settings, services))
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, lambda: services.tasks.spawn(bot.close(), "shutdown"))
        return await _run_until_closed(bot, settings)


async def _run_until_closed(bot: AzureBot, settings: Settings) -> int:
    try:
        await bot.start(settings.discord_token.reveal())
    except discord.LoginFailure:
        return fail("DISCORD_TOKEN was rejected by Discord: check it (see .env.example).")
    except (aiohttp.ClientConnectionError, discord.GatewayNotFound) as error:
        return fail(f"Could not reach Discord ({error}): check the network and DISCORD_API_BASE.")
    except discord.PrivilegedIntentsRequired:
        return fail(
            "Discord refused the Message Content intent: enable it for the bot in the "
            "Developer Portal (Bot > Privileged Gateway Intents)."
        )
    return 0


async def run_migrate(settings: Settings) -> int:
    """`python -m app migrate`: one line per migration applied, or that the schema is current."""
    if not settings.database_url:
        return fail("DATABASE_URL is not set: only the PostgreSQL store has migrations.")
    try:
        applied = await migrate(settings.database_url.reveal())
    except (StoreUnavailableError, StoreSchemaError) as error:
        return fail(str(error))
    for version in applied:
        print(f"Applied migration {version}.")
    if not applied:
        print(f"The database schema is current (version {known_migrations()[-1].version}).")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level,
        secrets=(
            settings.discord_token,
            settings.azure_openai_api_key,
            settings.elevenlabs_api_key,
            settings.store_encryption_key,
            settings.database_url,
            settings.database_password,
        ),
    )
    point_at_discord(settings)
    if args.command == "sync":
        guild_id = None if args.global_ else (args.guild or settings.guild_id)
        if guild_id is None and not args.global_:
            return fail("Say where to sync: set GUILD_ID, or pass --guild ID or --global.")
        return asyncio.run(sync_commands(settings, guild_id=guild_id, clear=args.clear))
    if args.command == "migrate":
        return asyncio.run(run_migrate(settings))
    return asyncio.run(run_bot(settings))
