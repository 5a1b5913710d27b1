"""`python -m app sync`: publish the slash commands over HTTP, without the gateway.

Discord rate-limits command creation (about 200 a day per guild), so this is an operator's
step, never something the bot does on every start. It builds the command tree only
(`open_services(..., commands_only=True)`: no data directory, voice or yt-dlp warm-up), and
every refusal or network failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import aiohttp
import discord

from app.bot import AzureBot
from app.composition import open_services
from app.settings import Settings

TOKEN_REJECTED = "DISCORD_TOKEN was rejected by Discord: check it (see .env.example)."


def unreachable(error: BaseException) -> str:
    detail = str(error) or type(error).__name__
    return f"Could not reach Discord ({detail}): check the network and DISCORD_API_BASE."


def refused(error: discord.HTTPException, doing: str) -> str:
    """Discord's status and message (its field errors too), on one line."""
    message = " ".join(line.strip() for line in (error.text or "").splitlines() if line.strip())
    reason = message or error.response.reason or "no message"
    return f"Discord refused to {doing}: HTTP {error.status}: {reason}"


async def command_payloads(bot: AzureBot) -> list[dict[str, Any]]:
    """The slash commands as `sync` publishes them (translated), from the code."""
    tree = bot.tree
    translator = tree.translator
    payloads: list[dict[str, Any]] = []
    for command in tree.get_commands():
        if translator is not None:
            payloads.append(await command.get_translated_payload(tree, translator))
        else:
            payloads.append(command.to_dict(tree))
    return payloads


async def sync_commands(settings: Settings, *, guild_id: int | None, clear: bool) -> int:
    where = f"guild {guild_id}" if guild_id is not None else "all guilds (global)"
    async with contextlib.AsyncExitStack() as opened:
        services = await opened.enter_async_context(open_services(settings, commands_only=True))
        bot = await opened.enter_async_context(AzureBot(settings, services))
        try:
            await bot.login(settings.discord_token.reveal())  # HTTP only; runs setup_hook
            guild = discord.Object(id=guild_id) if guild_id is not None else None
            if clear:
                bot.tree.clear_commands(guild=guild)
            elif guild is not None:
                bot.tree.copy_global_to(guild=guild)
            synced = await bot.tree.sync(guild=guild)
        except discord.LoginFailure:
            print(TOKEN_REJECTED, file=sys.stderr)
            return 1
        except discord.NotFound:
            print(
                f"Guild {guild_id} was not found: check the id and that the bot is in it.",
                file=sys.stderr,
            )
            return 1
        except discord.Forbidden:
            print(
                f"Discord refused to sync to {where}: invite the bot with the "
                "applications.commands scope (`python -m app invite` prints the URL).",
                file=sys.stderr,
            )
            return 1
        except discord.HTTPException as error:
            print(refused(error, f"sync to {where}"), file=sys.stderr)
            return 1
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            print(unreachable(error), file=sys.stderr)
            return 1
        if clear:
            print(f"Cleared the slash commands of {where}.")
        else:
            print(f"Synced {len(synced)} command(s) to {where}:")
            for command in synced:
                print(f"  /{command.name}: {command.description}")
    return 0
