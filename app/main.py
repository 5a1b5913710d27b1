"""Command line entry: settings, logging, then the subcommand (`run` when none is named)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import discord

from app.bot import AzureBot, point_at_discord, unreadable_gateway_event
from app.check import report_settings_problems, run_checks
from app.composition import open_postgres, open_services, open_sqlite
from app.invite import print_invite
from app.logging_setup import configure_logging
from app.migrate_store import AGAIN, run_migrate_store
from app.settings import (
    NO_OPERATOR_CHANNELS,
    DiscordAccess,
    Settings,
    SettingsError,
    load_discord_access,
    load_settings,
)
from app.sharding import ShardStartRefused
from app.sync import TOKEN_REJECTED, sync_commands, unreachable
from services.health import Heartbeat, Watchdog
from services.privacy.encryption import EncryptionKeyError
from services.privacy.member_data import MemberData
from services.store import StoreFileError, StoreOutageError
from services.store.migrate_store import BATCH
from services.store.postgres import (
    StoreSchemaError,
    StoreUnavailableError,
    known_migrations,
    migrate,
)

log = logging.getLogger("app")


def _sync_arguments(sync: argparse.ArgumentParser) -> None:
    where = sync.add_mutually_exclusive_group()
    where.add_argument("--guild", type=int, metavar="ID", help="guild id (default: GUILD_ID)")
    where.add_argument("--global", dest="global_", action="store_true", help="sync globally")
    sync.add_argument("--clear", action="store_true", help="remove the commands instead")


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


def _migrate_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch",
        type=_positive,
        default=BATCH,
        metavar="N",
        help=f"messages per transaction (default {BATCH:,})",
    )


def _forget_member_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user_id", type=_positive, metavar="USER_ID", help="the Discord user id")


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _interruptible(work: Coroutine[Any, Any, int], *, freeze: bool = False) -> int:
    """Run `work`; Ctrl-C is one line. `freeze`: for a command that makes millions of
    short-lived objects (migrate-store), keep the collector off everything loaded so far
    (modules, classes, settings), which it would otherwise rescan all along (about a
    quarter of a copy's time)."""
    if freeze:
        gc.freeze()
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        return fail(f"Interrupted: {AGAIN}.")


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    run: Callable[[argparse.Namespace, Settings], int]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    quiet: bool = True  # an operator's command: logs warnings only (all with LOG_LEVEL=DEBUG)


@dataclass(frozen=True)
class TokenSubcommand:
    """A command that needs only the Discord token (and DISCORD_API_BASE), not a whole `.env`:
    a problem with those settings is one line and exit status 2, as for every command; a
    refusal from Discord is one line and exit status 1."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, DiscordAccess], int]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    guild_id = None if args.global_ else (args.guild or settings.guild_id)
    if guild_id is None and not args.global_:
        return fail("Say where to sync: set GUILD_ID, or pass --guild ID or --global.")
    return asyncio.run(sync_commands(settings, guild_id=guild_id, clear=args.clear))


SUBCOMMANDS: tuple[Subcommand | TokenSubcommand, ...] = (
    Subcommand(
        "run", "run the bot (the default)", lambda a, s: asyncio.run(run_bot(s)), quiet=False
    ),
    Subcommand("sync", "publish the slash commands to a guild or globally", _sync, _sync_arguments),
    Subcommand(
        "check",
        "check the settings, Discord, the model (Azure OpenAI or OPENAI_BASE_URL's), "
        "ElevenLabs, voice and data; "
        "exit 1 if a required check fails",
        lambda a, s: asyncio.run(run_checks(s)),
    ),
    TokenSubcommand(
        "invite",
        "print the URL that adds the bot to a server, with the permissions it needs, and the "
        "privileged intent to enable",
        lambda a, access: asyncio.run(print_invite(access)),
    ),
    Subcommand(
        "migrate",
        "bring the PostgreSQL schema (DATABASE_URL) up to date",
        lambda a, s: asyncio.run(run_migrate(s)),
    ),
    Subcommand(
        "migrate-store",
        "copy the embedded store of DATA_DIR into PostgreSQL (DATABASE_URL); stop the bot "
        "first; run it again to carry on after an interruption",
        lambda a, s: _interruptible(run_migrate_store(s, batch=a.batch), freeze=True),
        _migrate_store_arguments,
    ),
    Subcommand(
        "forget-member",
        "delete everything stored about a Discord user id in every server, the privacy "
        "choices (opt-out marks) included: for a deleted account or a request to the operator",
        lambda a, s: _interruptible(run_forget_member(s, a.user_id)),
        _forget_member_arguments,
    ),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app", description="Discord Azure Bot")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    for command in SUBCOMMANDS:
        command.arguments(sub.add_parser(command.name, help=command.help))
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
        except (
            EncryptionKeyError,
            StoreUnavailableError,
            StoreSchemaError,
            StoreFileError,
        ) as error:
            return fail(str(error))
        bot = await opened.enter_async_context(AzureBot(settings, services))
        if not settings.channel_ids:
            log.info(NO_OPERATOR_CHANNELS)
        loop = asyncio.get_running_loop()

        def shutdown() -> None:
            services.tasks.spawn(bot.close(), "shutdown")

        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, shutdown)
        watchdog = None
        if settings.watchdog_minutes and services.heartbeat is not None:
            watchdog = watch_shards(
                bot, services.heartbeat, limit=settings.watchdog_minutes * 60, on_stale=shutdown
            )
            watchdog.start()
            opened.callback(watchdog.stop)
        problem = await run_until_closed(bot, settings)
        tripped = watchdog is not None and watchdog.tripped
    # Printed once everything has closed, so that it is the last line; the heartbeat file
    # (what `python -m app.health` and the operator read) says it too.
    if problem is not None:
        if services.heartbeat is not None:
            services.heartbeat.stop(because=problem)
        return fail(problem)
    return 1 if tripped else 0


def watch_shards(
    bot: AzureBot,
    heartbeat: Heartbeat,
    *,
    limit: float,
    on_stale: Callable[[], None],
    check_every: float = 5.0,
) -> Watchdog:
    """The watchdog of the running bot (call on its loop; not started): a shard down for
    `limit` seconds is reconnected on its own, and `on_stale` runs on the loop when the
    process must be restarted. Its thread only hands work to the loop."""
    loop = asyncio.get_running_loop()

    def reconnect(shard_id: int) -> None:  # on the loop
        bot.services.tasks.spawn(
            bot.reconnect_shard(shard_id), "watchdog: reconnect", shard=shard_id
        )

    return Watchdog(
        heartbeat,
        limit=limit,
        on_stale=lambda: loop.call_soon_threadsafe(on_stale),
        on_reconnect=lambda shard_id: loop.call_soon_threadsafe(reconnect, shard_id),
        check_every=check_every,
    )


async def run_until_closed(bot: AzureBot, settings: Settings) -> str | None:
    """Run the bot until it closes; the line that says why it could not run, if so."""
    try:
        await bot.start(settings.discord_token.reveal())
    except discord.LoginFailure:
        return TOKEN_REJECTED
    except (aiohttp.ClientConnectionError, discord.GatewayNotFound) as error:
        return unreachable(error)
    except discord.PrivilegedIntentsRequired:
        return (
            "Discord refused the Message Content intent: enable it for the bot in the "
            "Developer Portal (Bot > Privileged Gateway Intents)."
        )
    except ShardStartRefused as refused:
        return str(refused)
    except Exception as error:
        # A payload discord.py cannot read (a Discord-compatible server that sends less than
        # Discord does) ends the run: one line naming the event, not a traceback.
        event = unreadable_gateway_event(error)
        if event is None:
            raise
        return (
            f"The gateway's {event} event could not be read by discord.py "
            f"({type(error).__name__}: {error}): the server at DISCORD_GATEWAY_URL sends less "
            "than Discord does there, or discord.py needs an update."
        )
    return bot.stopped_because  # a shard lease lost while it ran, or None


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


async def run_forget_member(settings: Settings, user_id: int) -> int:
    """`python -m app forget-member USER_ID`: one line per kind of data deleted."""
    try:
        store = (
            await open_postgres(settings) if settings.database_url else await open_sqlite(settings)
        )
    except OSError as error:
        return fail(f"DATA_DIR {settings.data_dir} is not usable: {error.strerror}.")
    except (EncryptionKeyError, StoreUnavailableError, StoreSchemaError, StoreFileError) as error:
        return fail(str(error))
    try:
        data = MemberData(store, retention=timedelta(days=settings.retention_days))
        erased = await data.forget_everywhere(user_id)
    except StoreOutageError as error:
        return fail(f"Nothing more could be deleted: {error}. Run it again once the store works.")
    finally:
        await store.close()
    print(f"Deleted what was stored about user {user_id} in every server:")
    for line in erased.lines():
        print(f"  {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = next(c for c in SUBCOMMANDS if c.name == (args.command or "run"))
    if isinstance(command, TokenSubcommand):
        return run_with_token(command, args)
    try:
        settings = load_settings()
    except SettingsError as error:
        if command.name == "check":
            return report_settings_problems(error.problems)
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    quiet = command.quiet and settings.log_level != "DEBUG"
    configure_logging(
        "WARNING" if quiet else settings.log_level,
        secrets=(
            settings.discord_token,
            settings.azure_openai_api_key,
            settings.openai_api_key,
            settings.elevenlabs_api_key,
            settings.store_encryption_key,
            settings.database_url,
            settings.database_password,
        ),
        log_format=settings.log_format,
    )
    point_at_discord(settings)
    return command.run(args, settings)


def run_with_token(command: TokenSubcommand, args: argparse.Namespace) -> int:
    try:
        access = load_discord_access()
    except SettingsError as error:
        print(" ".join(error.problems), file=sys.stderr)
        return 2  # as every command with a setting missing or wrong
    configure_logging(
        access.log_level if access.log_level == "DEBUG" else "WARNING",
        secrets=(access.discord_token,),
        log_format=access.log_format,
    )
    return command.run(args, access)
