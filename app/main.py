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

log = logging.getLogger("app")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app", description="Discord Azure Bot")
    sub = parser.add_subparsers(dest="command")
    sync = sub.add_parser("sync", help="sync the slash commands to a guild or globally")
    where = sync.add_mutually_exclusive_group()
    where.add_argument("--guild", type=int, metavar="ID", help="guild id (default: GUILD_ID)")
    where.add_argument("--global", dest="global_", action="store_true", help="sync globally")
    sync.add_argument("--clear", action="store_true", help="remove the commands instead")
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
        except EncryptionKeyError as error:
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
        ),
    )
    point_at_discord(settings)
    if args.command == "sync":
        guild_id = None if args.global_ else (args.guild or settings.guild_id)
        if guild_id is None and not args.global_:
            return fail("Say where to sync: set GUILD_ID, or pass --guild ID or --global.")
        return asyncio.run(sync_commands(settings, guild_id=guild_id, clear=args.clear))
    return asyncio.run(run_bot(settings))
