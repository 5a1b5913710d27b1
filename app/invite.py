"""`python -m app invite`: the URL that adds the bot to a server, and the intent to enable.

The permissions are the ones `python -m app check` verifies (`BOT_PERMISSIONS`, from
`services/discord_permissions.py`), so the URL asks for exactly what the bot needs; the
privileged intents are read from the intents the bot itself requests. The application id
comes from Discord (`GET /oauth2/applications/@me` with the bot's token), so the operator
needs only `DISCORD_TOKEN`. Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import discord

from app.bot import bot_intents, privileged_intents
from app.check import DiscordRest
from app.settings import DiscordAccess
from app.sync import TOKEN_REJECTED, unreachable
from services.discord_permissions import BOT_PERMISSIONS, combined

SCOPES = ("bot", "applications.commands")
PORTAL = "the Developer Portal (your application > Bot > Privileged Gateway Intents)"


def invite_url(application_id: int, permissions: int) -> str:
    """Discord's bot authorization URL (`https://discord.com/oauth2/authorize?client_id=...
    &scope=bot+applications.commands&permissions=...`): the permissions as one integer."""
    return discord.utils.oauth_url(
        application_id, permissions=discord.Permissions(permissions), scopes=SCOPES
    )


def intent_sentence(names: list[str]) -> str:
    """What to enable in the Developer Portal for the privileged intents `names`."""
    if not names:
        return "The bot needs no privileged intent."
    return f"Enable {' and '.join(names)} in {PORTAL}: Discord refuses the bot otherwise."


async def print_invite(access: DiscordAccess) -> int:
    try:
        async with aiohttp.ClientSession() as session:
            rest = DiscordRest(session, access.discord_api_base, access.discord_token.reveal())
            status, application = await rest.get("/oauth2/applications/@me")
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        return _fail(unreachable(error))
    if status == 401:
        return _fail(TOKEN_REJECTED)
    application_id = _id(application) if status == 200 else None
    if application_id is None:
        return _fail(
            "Discord did not say the application's id (GET /oauth2/applications/@me: "
            f"{_answer(status, application)}): try again later."
        )
    print(
        "Open this URL to add the bot to a server (scopes "
        f"{' and '.join(SCOPES)}; permissions {', '.join(BOT_PERMISSIONS)}):"
    )
    print(invite_url(application_id, combined(BOT_PERMISSIONS)))
    print(intent_sentence(privileged_intents(bot_intents())))
    return 0


def _id(application: Any) -> int | None:
    raw = application.get("id") if isinstance(application, dict) else None
    return int(raw) if isinstance(raw, str | int) and str(raw).isdigit() else None


def _answer(status: int, body: Any) -> str:
    message = body.get("message") if isinstance(body, dict) else None
    if status == 200:
        return "HTTP 200 without an id"
    return f"HTTP {status}" + (f": {message}" if message else "")


def _fail(line: str) -> int:
    print(line, file=sys.stderr)
    return 1
