"""Discord's wire protocol: constants, the JSON response shape, where the fake listens."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord
from aiohttp import web

JSON = dict[str, Any]
# Send one gateway event (op 0) to the sessions that should see it.
Dispatch = Callable[[str, JSON], Awaitable[None]]

DISCORD_EPOCH_MS = 1420070400000
API_PREFIX = "/api/v10"
# Where the fake serves attachments, as Discord's CDN does at https://cdn.discordapp.com.
CDN_PREFIX = "/attachments"
HEARTBEAT_INTERVAL_MS = 41250
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # see limits.ATTACHMENT_SIZE_MAX

# Gateway opcodes
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_VOICE_STATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

# Intents that change what the gateway sends
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

FLAG_EPHEMERAL = 64
FLAG_LOADING = 128

EVERYONE_PERMISSIONS = discord.Permissions(
    create_instant_invite=True,
    add_reactions=True,
    stream=True,
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    mention_everyone=False,
    external_emojis=True,
    connect=True,
    speak=True,
    use_voice_activation=True,
    change_nickname=True,
    use_application_commands=True,
    send_messages_in_threads=True,
    create_public_threads=True,
).value
BOT_ROLE_PERMISSIONS = (
    EVERYONE_PERMISSIONS
    | discord.Permissions(manage_messages=True, move_members=True, mute_members=True).value
)
ADMINISTRATOR = discord.Permissions(administrator=True).value
ALL_PERMISSIONS = discord.Permissions.all().value


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # Exactly "application/json": discord.py treats anything else (even with a charset) as text.
    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    return web.Response(body=json.dumps(data).encode(), status=status, headers=hdrs)


def error(status: int, code: int, message: str, errors: JSON | None = None) -> web.Response:
    body: JSON = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status=status)


@dataclass
class Address:
    """Where the fake listens on 127.0.0.1; the port is known once it is served (0 before)."""

    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_base(self) -> str:
        return f"{self.base}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"


class FakeClock:
    """Discord's sense of time for its deadlines: the monotonic clock, plus whatever a test
    added with :meth:`advance` (to age an interaction without waiting)."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds
