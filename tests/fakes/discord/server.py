# The waiting helpers take a `timeout` argument on purpose: it is the fixtures' public API.
# ruff: noqa: ASYNC109
"""A loopback fake of Discord: REST API v10 and the gateway, spoken with the real protocols.

Point an unmodified discord.py client at it with :meth:`FakeDiscord.install`, which sets
``discord.http.Route.BASE`` and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``.
Payload shapes follow what discord.py 2.7 parses (see ``state.py``, ``guild.py``,
``message.py``, ``interactions.py`` and ``webhook/async_.py``).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast, overload

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, web

from tests.fakes.discord import payloads
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.model import FakeUser, Member, Model
from tests.fakes.discord.protocol import (
    API_PREFIX,
    ATTACHMENT_SIZE_LIMIT,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    JSON,
    Address,
    error,
    json_response,
    now_iso,
)
from tests.fakes.discord.voice import Voice
from tests.fakes.discord.waits import Notifier
from tests.fakes.loopback import serve_on_loopback

_BODY: web.RequestKey[Any] = web.RequestKey("fake_discord_body")
_FILES: web.RequestKey[list[JSON]] = web.RequestKey("fake_discord_files")

_MENTION_RE = re.compile(r"<@!?(\d+)>")

T = TypeVar("T")


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix, e.g. "/channels/1/messages"
    json: Any
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    files: list[JSON] = field(default_factory=list)


@dataclass
class _Failure:
    method: str
    path_prefix: str
    status: int
    body: JSON
    headers: dict[str, str]
    times: int


class FakeInteraction:
    """An interaction sent to the bot, and every answer the bot gave to it.

    Each entry of ``responses`` is ``{"kind", "type", "payload", "message"}``: ``kind`` is one of
    ``callback``, ``followup``, ``edit_original``, ``delete_original``, ``edit_followup``,
    ``delete_followup``; ``type`` is the callback type (``None`` for webhook calls);
    ``payload`` is the JSON the bot sent (for a callback, its ``data`` object, ``{}`` if none);
    ``message`` is the message as Discord stores it afterwards (flags included), or ``None``.
    """

    def __init__(self, fake: FakeDiscord, payload: JSON) -> None:
        self._fake = fake
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.channel_id = int(payload["channel_id"])
        user = payload["member"]["user"] if "member" in payload else payload["user"]
        self.user_id = int(user["id"])
        self.responses: list[JSON] = []
        self.original: JSON | None = None
        self.followups: list[JSON] = []
        self.callback_type: int | None = None

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    @property
    def deferred(self) -> bool:
        return self.callback_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        return self.original is not None and bool(self.original.get("flags", 0) & FLAG_EPHEMERAL)

    def _record(self, kind: str, type_: int | None, payload: JSON, message: JSON | None) -> None:
        self.responses.append({"kind": kind, "type": type_, "payload": payload, "message": message})
        self._fake._notifier.notify()

    @staticmethod
    def _bears_message(resp: JSON) -> bool:
        if resp["kind"] == "callback":
            return resp["type"] in (4, 7)
        return resp["kind"] in ("followup", "edit_original", "edit_followup")

    async def wait_for(self, predicate: Callable[[JSON], bool], timeout: float = 10) -> JSON:
        """Return the first recorded response (see class doc) satisfying ``predicate``."""
        found: list[JSON] = []

        def check() -> bool:
            for resp in self.responses:
                if predicate(resp):
                    found.append(resp)
                    return True
            return False

        await self._fake._notifier.wait_for(check, timeout, f"a response to interaction {self.id}")
        return found[0]

    async def wait_for_response(self, timeout: float = 10) -> JSON:
        """The first message-bearing answer: callback 4/7, or a followup/edit after a defer."""
        return await self.wait_for(self._bears_message, timeout)


class _Forward(Generic[T]):
    """A facade attribute that lives on one of its parts, read and written there."""

    def __init__(self, part: str) -> None:
        self._part = part
        self._name = ""

    def __set_name__(self, owner: type[object], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type[object] | None = None) -> _Forward[T]: ...
    @overload
    def __get__(self, obj: object, objtype: type[object] | None = None) -> T: ...
    def __get__(self, obj: object | None, objtype: type[object] | None = None) -> Any:
        if obj is None:
            return self
        return cast(T, getattr(getattr(obj, self._part), self._name))

    def __set__(self, obj: object, value: T) -> None:
        setattr(getattr(obj, self._part), self._name, value)


class FakeDiscord:
    # What Discord stores (the model)
    token = _Forward[str]("_model")
    application_id = _Forward[int]("_model")
    bot_user = _Forward[FakeUser]("_model")
    guild_id = _Forward[int]("_model")
    guild_name = _Forward[str]("_model")
    owner_id = _Forward[int]("_model")
    admin_role_id = _Forward[int]("_model")
    bot_role_id = _Forward[int]("_model")
    channels = _Forward[dict[int, JSON]]("_model")
    dm_channels = _Forward[dict[int, JSON]]("_model")
    roles = _Forward[dict[int, JSON]]("_model")
    users = _Forward[dict[int, FakeUser]]("_model")
    guild_members = _Forward[dict[int, Member]]("_model")
    messages = _Forward[dict[int, JSON]]("_model")
    synced_commands = _Forward[dict[int | None, list[JSON]]]("_model")
    voice_channel_of = _Forward[dict[int, int]]("_model")
    # Recorded traffic: gateway
    presences = _Forward[list[JSON]]("_gateway")
    voice_state_requests = _Forward[list[JSON]]("_gateway")
    member_requests = _Forward[list[JSON]]("_gateway")
    identify_payloads = _Forward[list[JSON]]("_gateway")
    identify_count = _Forward[int]("_gateway")
    resume_count = _Forward[int]("_gateway")
    gateway_close_codes = _Forward[list[int | None]]("_gateway")
    # The fake voice server the bot is sent to
    voice_endpoint = _Forward[str]("_voice")

    def __init__(
        self,
        *,
        token: str = "fake-token",
        application_id: int,
        bot_user: FakeUser,
        guild_id: int,
        guild_name: str = "Test Guild",
        text_channels: dict[int, str],
        voice_channels: dict[int, str] | None = None,
        members: list[FakeUser] | None = None,
        owner_id: int | None = None,
    ) -> None:
        self._model = Model(
            token=token,
            application_id=application_id,
            bot_user=bot_user,
            guild_id=guild_id,
            guild_name=guild_name,
            text_channels=text_channels,
            voice_channels=voice_channels,
            members=members,
            owner_id=owner_id,
        )

        # Recorded traffic
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []
        self.sent_messages: list[JSON] = []
        self.deleted_messages: list[int] = []
        self.typing: list[int] = []
        self.reactions: list[tuple[int, int, str]] = []
        self.interactions: dict[int, FakeInteraction] = {}

        self._failures: list[_Failure] = []
        self._notifier = Notifier()
        self._runner: web.AppRunner | None = None
        self._address = Address()
        self._gateway = Gateway(self._model, self._notifier, self._address)
        self._voice = Voice(self._model, self._notifier, self._gateway.dispatch)
        self._gateway.on_voice_state = self._voice.answer_voice_state

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        p = API_PREFIX
        self._gateway.add_routes(r)
        r.add_get(p + "/users/@me", self._get_me)
        r.add_post(p + "/users/@me/channels", self._create_dm)
        r.add_get(p + "/oauth2/applications/@me", self._get_application)
        r.add_get(p + "/applications/@me", self._get_application)
        r.add_get(p + "/channels/{cid}", self._get_channel)
        r.add_post(p + "/channels/{cid}/messages", self._create_message)
        r.add_get(p + "/channels/{cid}/messages", self._history)
        r.add_get(p + "/channels/{cid}/messages/{mid}", self._get_message)
        r.add_patch(p + "/channels/{cid}/messages/{mid}", self._edit_message_rest)
        r.add_delete(p + "/channels/{cid}/messages/{mid}", self._delete_message_rest)
        r.add_put(p + "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._add_reaction)
        r.add_post(p + "/channels/{cid}/typing", self._typing)
        r.add_get(p + "/guilds/{gid}", self._get_guild)
        r.add_get(p + "/guilds/{gid}/channels", self._get_guild_channels)
        r.add_get(p + "/guilds/{gid}/roles", self._get_guild_roles)
        r.add_get(p + "/guilds/{gid}/members/{uid}", self._get_member)
        r.add_put(p + "/applications/{app}/commands", self._put_commands)
        r.add_get(p + "/applications/{app}/commands", self._get_commands)
        r.add_put(p + "/applications/{app}/guilds/{gid}/commands", self._put_commands)
        r.add_get(p + "/applications/{app}/guilds/{gid}/commands", self._get_commands)
        r.add_post(p + "/interactions/{iid}/{token}/callback", self._interaction_callback)
        r.add_post(p + "/webhooks/{app}/{token}", self._webhook_execute)
        r.add_get(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_get)
        r.add_patch(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_edit)
        r.add_delete(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_delete)
        self._runner, self._address.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        await self._gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._address.port

    @property
    def rest_base(self) -> str:
        return self._address.rest_base

    @property
    def gateway_url(self) -> str:
        return self._address.gateway_url

    def install(self) -> contextlib.AbstractContextManager[None]:
        """Point discord.py (REST, webhooks, interactions and gateway) at this fake."""
        return self._install()

    @contextlib.contextmanager
    def _install(self) -> Iterator[None]:
        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.rest_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # ------------------------------------------------------------------ the guild

    def snowflake(self) -> int:
        """A new increasing snowflake for the current time."""
        return self._model.snowflake()

    def reset(self) -> None:
        """Clear recordings and queued failures (guild, messages and sessions are kept)."""
        for recording in (
            self.requests,
            self.unhandled,
            self.sent_messages,
            self.deleted_messages,
            self.typing,
            self.reactions,
        ):
            recording.clear()
        self._gateway.reset()
        self._failures.clear()

    def add_role(self, name: str, permissions: int) -> int:
        """Create a guild role (state only; not dispatched). Returns its id."""
        return self._model.add_role(name, permissions)

    def add_guild_member(
        self,
        user: FakeUser,
        *,
        admin: bool = False,
        permissions: int | None = None,
        roles: list[int] | None = None,
        nick: str | None = None,
    ) -> JSON:
        """Make ``user`` a guild member (state only; use :meth:`join_member` to dispatch).

        ``admin=True`` gives the Administrator role; ``permissions`` creates a dedicated role
        with exactly those permission bits (on top of @everyone). Returns the member payload.
        """
        self._model.add_guild_member(
            user, admin=admin, permissions=permissions, roles=roles, nick=nick
        )
        return self.member_payload(user.id)

    async def join_member(self, user: FakeUser, *, admin: bool = False) -> JSON:
        """Add a member and dispatch GUILD_MEMBER_ADD."""
        payload = self.add_guild_member(user, admin=admin)
        await self.dispatch("GUILD_MEMBER_ADD", {**payload, "guild_id": str(self.guild_id)})
        return payload

    def member_permissions(self, user_id: int) -> int:
        """Guild-level computed permissions (no channel overwrites exist in this fake)."""
        return self._model.member_permissions(user_id)

    def member_payload(self, user_id: int) -> JSON:
        return payloads.member_payload(self._model, user_id)

    def member_payload_for(self, user: FakeUser) -> JSON:
        return payloads.member_payload_for(self._model, user)

    def guild_payload(self) -> JSON:
        """The guild as ``GET /guilds/{id}`` returns it."""
        return payloads.guild_payload(self._model)

    def guild_create_payload(self) -> JSON:
        return payloads.guild_create_payload(self._model)

    def application_payload(self) -> JSON:
        return payloads.application_payload(self._model)

    def _build_message(
        self,
        *,
        channel_id: int,
        author: FakeUser,
        content: str,
        webhook_id: int | None = None,
        message_type: int = 0,
        mentions: list[FakeUser] | None = None,
        reply_to: int | None = None,
        attachments: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
        components: list[JSON] | None = None,
        flags: int = 0,
        nonce: Any = None,
        tts: bool = False,
    ) -> JSON:
        in_guild = self._model.is_guild_channel(channel_id)
        mid = self.snowflake()
        if webhook_id is not None:
            author_payload: JSON = {
                "id": str(webhook_id),
                "username": author.username,
                "avatar": None,
                "discriminator": "0000",
                "bot": True,
                "global_name": None,
                "public_flags": 0,
                "flags": 0,
            }
        else:
            author_payload = author.payload()
        mention_users = list(mentions or [])
        for match in _MENTION_RE.findall(content):
            known = self.users.get(int(match))
            if known is not None and all(u.id != known.id for u in mention_users):
                mention_users.append(known)
        if reply_to is not None and message_type == 0:
            message_type = 19
        msg: JSON = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": author_payload,
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": tts,
            "mention_everyone": "@everyone" in content or "@here" in content,
            "mentions": [
                payloads.user_with_member(self._model, u) if in_guild else u.payload()
                for u in mention_users
            ],
            "mention_roles": [],
            "attachments": [self._attachment(a) for a in attachments or []],
            "embeds": list(embeds or []),
            "pinned": False,
            "type": message_type,
            "flags": flags,
            "components": list(components or []),
        }
        if nonce is not None:
            msg["nonce"] = nonce
        if in_guild:
            msg["guild_id"] = str(self.guild_id)
            if webhook_id is None:
                msg["member"] = payloads.member_fields(self._model, author.id)
        if webhook_id is not None:
            msg["webhook_id"] = str(webhook_id)
        if reply_to is not None:
            msg["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
            }
            if in_guild:
                msg["message_reference"]["guild_id"] = str(self.guild_id)
            ref = self.messages.get(reply_to)
            msg["referenced_message"] = dict(ref) if ref is not None else None
            if ref is not None and webhook_id is None:
                ref_author_id = int(ref["author"]["id"])
                ref_user = self.users.get(ref_author_id)
                if ref_user is not None and all(u.id != ref_author_id for u in mention_users):
                    msg["mentions"].append(
                        payloads.user_with_member(self._model, ref_user)
                        if in_guild
                        else ref_user.payload()
                    )
        return msg

    def _attachment(self, data: JSON) -> JSON:
        aid = int(data.get("id") or self.snowflake())
        filename = data.get("filename", "file.bin")
        url = f"{self._address.base}/attachments/{aid}/{filename}"
        return {
            "id": str(aid),
            "filename": filename,
            "size": int(data.get("size", 0)),
            "url": data.get("url", url),
            "proxy_url": data.get("proxy_url", url),
            "content_type": data.get("content_type"),
            "description": data.get("description"),
            "flags": 0,
        }

    # ------------------------------------------------------------------ gateway

    @property
    def connected(self) -> bool:
        return self._gateway.connected

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send any gateway event (op 0) to the connected bot (kept for RESUME replay)."""
        await self._gateway.dispatch(event, data)

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT; the bot should close and RESUME."""
        await self._gateway.send_reconnect()

    async def send_invalid_session(self, resumable: bool) -> None:
        """Send op 9 INVALID_SESSION. A non-resumable one forgets the session."""
        await self._gateway.send_invalid_session(resumable)

    async def wait_until_connected(self, timeout: float = 10) -> None:
        """Return once a session got its GUILD_CREATE (or RESUMED) on a live websocket."""
        await self._notifier.wait_for(lambda: self.connected, timeout, "a gateway session")

    async def wait_for_state(
        self, predicate: Callable[[], bool], timeout: float = 10, what: str = "a condition"
    ) -> None:
        """Wait until ``predicate()`` holds; re-checked on every change the fake records."""
        await self._notifier.wait_for(predicate, timeout, what)

    # ------------------------------------------------------------------ driving events

    async def post_message(
        self,
        channel_id: int,
        author: FakeUser,
        content: str,
        *,
        webhook_id: int | None = None,
        message_type: int = 0,
        mentions: list[FakeUser] | None = None,
        reply_to: int | None = None,
        attachments: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
        in_guild: bool = True,
    ) -> JSON:
        """A user (or a webhook) posts a message; dispatches MESSAGE_CREATE and returns it.

        ``in_guild=False`` makes ``channel_id`` the DM channel between ``author`` and the bot.
        A reply (``reply_to``) gets type 19, ``message_reference`` and ``referenced_message``.
        """
        self.users.setdefault(author.id, author)
        if in_guild:
            if channel_id not in self.channels:
                raise KeyError(f"unknown guild channel {channel_id}")
        else:
            channel_id = int(self._model.dm_channel_for(author, channel_id)["id"])
        msg = self._build_message(
            channel_id=channel_id,
            author=author,
            content=content,
            webhook_id=webhook_id,
            message_type=message_type,
            mentions=mentions,
            reply_to=reply_to,
            attachments=attachments,
            embeds=embeds,
        )
        self._model.store(msg)
        await self._gateway.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def edit_message(self, message_id: int, content: str) -> JSON:
        msg = self.messages[message_id]
        msg["content"] = content
        msg["edited_timestamp"] = now_iso()
        await self._gateway.dispatch("MESSAGE_UPDATE", dict(msg))
        return msg

    async def delete_message(self, message_id: int) -> None:
        msg = self.messages.pop(message_id)
        data: JSON = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if "guild_id" in msg:
            data["guild_id"] = msg["guild_id"]
        await self._gateway.dispatch("MESSAGE_DELETE", data)

    def _interaction_base(self, itype: int, user: FakeUser, channel_id: int, locale: str) -> JSON:
        channel = self._model.channel(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        iid = self.snowflake()
        payload: JSON = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "token": f"itoken-{iid}-{uuid.uuid4().hex}",
            "version": 1,
            "channel": dict(channel),
            "channel_id": str(channel_id),
            "app_permissions": str(self.member_permissions(self.bot_user.id)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if channel_id in self.channels:
            payload["guild_id"] = str(self.guild_id)
            payload["guild"] = {"id": str(self.guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = {
                **payloads.member_payload_for(self._model, user),
                "permissions": str(self.member_permissions(user.id)),
            }
            payload["authorizing_integration_owners"] = {"0": str(self.guild_id)}
            payload["context"] = 0
        else:
            payload["user"] = user.payload()
            payload["authorizing_integration_owners"] = {"0": str(self.guild_id)}
            payload["context"] = 1
        return payload

    async def send_interaction(
        self,
        name: str,
        *,
        user: FakeUser,
        channel_id: int,
        options: list[JSON] | None = None,
        locale: str = "en-US",
        command_type: int = 1,
        resolved: JSON | None = None,
        target_id: int | None = None,
    ) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE (type 2) for application command ``name``.

        The command id is the synced one (guild first, then global) when it exists.
        """
        payload = self._interaction_base(2, user, channel_id, locale)
        command_id: int | None = None
        command_guild: int | None = None
        for scope in (self.guild_id, None):
            for cmd in self.synced_commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == command_type:
                    command_id, command_guild = int(cmd["id"]), scope
                    break
            if command_id is not None:
                break
        data: JSON = {
            "id": str(command_id if command_id is not None else self.snowflake()),
            "name": name,
            "type": command_type,
        }
        if options:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if target_id is not None:
            data["target_id"] = str(target_id)
        if command_guild is not None:
            data["guild_id"] = str(command_guild)
        payload["data"] = data
        interaction = FakeInteraction(self, payload)
        self.interactions[interaction.id] = interaction
        await self._gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def click_button(
        self, message: JSON, custom_id: str, *, user: FakeUser, component_type: int = 2
    ) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE (type 3) for a component on ``message``."""
        payload = self._interaction_base(3, user, int(message["channel_id"]), "en-US")
        stored = self.messages.get(int(message["id"]), message)
        payload["message"] = dict(stored)
        payload["data"] = {"custom_id": custom_id, "component_type": component_type}
        interaction = FakeInteraction(self, payload)
        self.interactions[interaction.id] = interaction
        await self._gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction

    # ------------------------------------------------------------------ voice

    async def join_voice(self, user: FakeUser, channel_id: int | None) -> None:
        """A member joins (or, with None, leaves) a voice channel: VOICE_STATE_UPDATE."""
        await self._voice.join(user, channel_id)

    async def leave_voice(self, user: FakeUser) -> None:
        """A member leaves whatever voice channel they are in (channel_id null)."""
        await self._voice.leave(user)

    async def move_bot_voice(self, channel_id: int | None) -> None:
        """A moderator moves the bot to `channel_id`, or (None) disconnects it from voice.

        The bot did not ask: its VOICE_STATE_UPDATE comes out of the blue, and a move is
        followed by a VOICE_SERVER_UPDATE, as Discord does.
        """
        await self._voice.move_bot(channel_id)

    @property
    def bot_voice_channel(self) -> int | None:
        return self._voice.bot_voice_channel

    # ------------------------------------------------------------------ waiting

    async def wait_for_sent(
        self,
        predicate: Callable[[JSON], bool] = lambda m: True,
        *,
        count: int = 1,
        timeout: float = 10,
    ) -> list[JSON]:
        """Wait until ``count`` messages sent by the bot (REST) satisfy ``predicate``."""
        found: list[JSON] = []

        def check() -> bool:
            found[:] = [m for m in self.sent_messages if predicate(m)]
            return len(found) >= count

        await self._notifier.wait_for(check, timeout, f"{count} sent message(s)")
        return found[:count]

    async def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 10
    ) -> RecordedRequest:
        found: list[RecordedRequest] = []

        def check() -> bool:
            found[:] = [r for r in self.requests if predicate(r)]
            return bool(found)

        await self._notifier.wait_for(check, timeout, "a matching request")
        return found[0]

    # ------------------------------------------------------------------ REST plumbing

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int,
        body: JSON,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching method and path prefix (after /api/v10)."""
        self._failures.append(
            _Failure(method.upper(), path_prefix, status, body, dict(headers or {}), times)
        )

    def fail_next_rate_limited(
        self, method: str, path_prefix: str, *, retry_after: float = 0.05, times: int = 1
    ) -> None:
        """A realistic per-route 429 that discord.py retries (it needs the ``Via`` header)."""
        self.fail_next(
            method,
            path_prefix,
            status=429,
            body={
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": False,
            },
            headers={
                "Via": "1.1 google",
                "Retry-After": str(max(1, int(retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": "fakebucket",
                "X-RateLimit-Scope": "user",
            },
            times=times,
        )

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path == "/gateway":
            result: web.StreamResponse = await handler(request)
            return result
        path = request.path
        api_path = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        body, files = await self._read_body(request)
        request[_BODY] = body
        request[_FILES] = files
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=api_path,
                json=body,
                headers=dict(request.headers),
                query=dict(request.query),
                files=files,
            )
        )
        self._notifier.notify()
        for failure in self._failures:
            if failure.method == request.method and api_path.startswith(failure.path_prefix):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return json_response(failure.body, failure.status, failure.headers)
        if request.match_info.http_exception is not None or not path.startswith(API_PREFIX):
            self.unhandled.append(f"{request.method} {api_path}")
            self._notifier.notify()
            return error(404, 0, "404: Not Found")
        unauthenticated = (
            api_path.startswith("/webhooks/")
            or api_path.startswith("/interactions/")
            or api_path == "/gateway"
        )
        if not unauthenticated and request.headers.get("Authorization") != f"Bot {self.token}":
            return error(401, 0, "401: Unauthorized")
        result = await handler(request)
        return result

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[JSON]]:
        if not request.body_exists:
            return None, []
        ctype = request.content_type
        if ctype == "multipart/form-data":
            reader = await request.multipart()
            body: Any = None
            files: list[JSON] = []
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                raw = await part.read()
                if part.name == "payload_json":
                    body = json.loads(raw)
                else:
                    files.append(
                        {
                            "name": part.name,
                            "filename": part.filename,
                            "content_type": part.headers.get("Content-Type"),
                            "data": bytes(raw),
                        }
                    )
            return body, files
        raw_text = await request.text()
        if not raw_text:
            return None, []
        try:
            return json.loads(raw_text), []
        except json.JSONDecodeError:
            return raw_text, []

    @staticmethod
    def _attachments_from(body: JSON, files: list[JSON]) -> list[JSON]:
        out: list[JSON] = []
        for index, f in enumerate(files):
            meta: JSON = next(
                (a for a in body.get("attachments") or [] if str(a.get("id")) == str(index)),
                {},
            )
            out.append(
                {
                    "filename": meta.get("filename") or f["filename"] or "file.bin",
                    "size": len(f["data"]),
                    "content_type": f["content_type"],
                    "description": meta.get("description"),
                }
            )
        return out

    # ------------------------------------------------------------------ REST handlers

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_response(payloads.me_payload(self._model))

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_response(self.application_payload())

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = request[_BODY] or {}
        uid = int(body.get("recipient_id", 0))
        user = self.users.get(uid)
        if user is None:
            return error(400, 50033, "Invalid Recipient(s)")
        return json_response(self._model.dm_channel_for(user))

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._model.channel(int(request.match_info["cid"]))
        if channel is None:
            return error(404, 10003, "Unknown Channel")
        return json_response(channel)

    def _message_in(self, request: web.Request) -> JSON | None:
        msg = self.messages.get(int(request.match_info["mid"]))
        if msg is None or msg["channel_id"] != request.match_info["cid"]:
            return None
        return msg

    async def _create_message(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["cid"])
        if self._model.channel(cid) is None:
            return error(404, 10003, "Unknown Channel")
        body: JSON = request[_BODY] or {}
        files: list[JSON] = request[_FILES]
        content = body.get("content") or ""
        if len(content) > 2000:
            return error(
                400,
                50035,
                "Invalid Form Body",
                {
                    "content": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": "Must be 2000 or fewer in length.",
                            }
                        ]
                    }
                },
            )
        if not (
            content
            or body.get("embeds")
            or files
            or body.get("components")
            or body.get("sticker_ids")
            or body.get("poll")
        ):
            return error(400, 50006, "Cannot send an empty message")
        reply_to: int | None = None
        ref = body.get("message_reference")
        if ref and ref.get("message_id") is not None:
            reply_to = int(ref["message_id"])
            if reply_to not in self.messages:
                if ref.get("fail_if_not_exists", True):
                    return error(
                        400,
                        50035,
                        "Invalid Form Body",
                        {
                            "message_reference": {
                                "_errors": [
                                    {
                                        "code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                                        "message": "Unknown message",
                                    }
                                ]
                            }
                        },
                    )
                reply_to = None
        msg = self._build_message(
            channel_id=cid,
            author=self.bot_user,
            content=content,
            reply_to=reply_to,
            attachments=self._attachments_from(body, files),
            embeds=body.get("embeds"),
            components=body.get("components"),
            flags=int(body.get("flags") or 0),
            nonce=body.get("nonce"),
            tts=bool(body.get("tts", False)),
        )
        self._model.store(msg)
        record = {
            **msg,
            "allowed_mentions": body.get("allowed_mentions"),
            "request": body,
            "files": files,
        }
        self.sent_messages.append(record)
        self._notifier.notify()
        await self._gateway.dispatch("MESSAGE_CREATE", msg)
        return json_response(msg)

    async def _history(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if self._model.channel(int(cid)) is None:
            return error(404, 10003, "Unknown Channel")
        limit = max(1, min(100, int(request.query.get("limit", "50"))))
        msgs = sorted(
            (m for m in self.messages.values() if m["channel_id"] == cid),
            key=lambda m: int(m["id"]),
        )
        if "before" in request.query:
            before = int(request.query["before"])
            msgs = [m for m in msgs if int(m["id"]) < before][-limit:]
        elif "after" in request.query:
            after = int(request.query["after"])
            msgs = [m for m in msgs if int(m["id"]) > after][:limit]
        else:
            msgs = msgs[-limit:]
        return json_response(list(reversed(msgs)))

    async def _get_message(self, request: web.Request) -> web.Response:
        msg = self._message_in(request)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        return json_response(msg)

    def _apply_edit(self, msg: JSON, body: JSON, files: list[JSON]) -> None:
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                msg[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        msg.pop("allowed_mentions", None)
        if "flags" in body and body["flags"] is not None:
            keep = int(msg.get("flags", 0)) & FLAG_EPHEMERAL
            msg["flags"] = (int(body["flags"]) & ~FLAG_LOADING) | keep
        else:
            msg["flags"] = int(msg.get("flags", 0)) & ~FLAG_LOADING
        if "attachments" in body or files:
            kept = [
                a
                for a in msg.get("attachments", [])
                if any(str(b.get("id")) == a["id"] for b in body.get("attachments") or [])
            ]
            msg["attachments"] = kept + [
                self._attachment(a) for a in self._attachments_from(body, files)
            ]
        msg["edited_timestamp"] = now_iso()

    async def _edit_message_rest(self, request: web.Request) -> web.Response:
        msg = self._message_in(request)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        body: JSON = request[_BODY] or {}
        if msg["author"]["id"] != str(self.bot_user.id) and set(body) - {"flags"}:
            return error(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(msg, body, request[_FILES])
        self._notifier.notify()
        await self._gateway.dispatch("MESSAGE_UPDATE", dict(msg))
        return json_response(msg)

    async def _delete_message_rest(self, request: web.Request) -> web.Response:
        msg = self._message_in(request)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        self.deleted_messages.append(int(msg["id"]))
        self._notifier.notify()
        await self.delete_message(int(msg["id"]))
        return web.Response(status=204)

    async def _add_reaction(self, request: web.Request) -> web.Response:
        msg = self._message_in(request)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        self.reactions.append(
            (int(request.match_info["cid"]), int(msg["id"]), request.match_info["emoji"])
        )
        self._notifier.notify()
        return web.Response(status=204)

    async def _typing(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["cid"])
        if self._model.channel(cid) is None:
            return error(404, 10003, "Unknown Channel")
        self.typing.append(cid)
        self._notifier.notify()
        return web.Response(status=204)

    def _check_guild(self, request: web.Request) -> web.Response | None:
        if int(request.match_info["gid"]) != self.guild_id:
            return error(404, 10004, "Unknown Guild")
        return None

    async def _get_guild(self, request: web.Request) -> web.Response:
        if (err := self._check_guild(request)) is not None:
            return err
        data = self.guild_payload()
        if request.query.get("with_counts") in ("true", "1", "True"):
            data["approximate_member_count"] = len(self.guild_members)
            data["approximate_presence_count"] = 0
        return json_response(data)

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        if (err := self._check_guild(request)) is not None:
            return err
        return json_response(list(self.channels.values()))

    async def _get_guild_roles(self, request: web.Request) -> web.Response:
        if (err := self._check_guild(request)) is not None:
            return err
        return json_response(list(self.roles.values()))

    async def _get_member(self, request: web.Request) -> web.Response:
        if (err := self._check_guild(request)) is not None:
            return err
        uid = int(request.match_info["uid"])
        if uid not in self.guild_members:
            return error(404, 10007, "Unknown Member")
        return json_response(self.member_payload(uid))

    def _command_scope(self, request: web.Request) -> tuple[int | None, web.Response | None]:
        if int(request.match_info["app"]) != self.application_id:
            return None, error(403, 50001, "Missing Access")
        if "gid" in request.match_info:
            err = self._check_guild(request)
            return int(request.match_info["gid"]), err
        return None, None

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope, err = self._command_scope(request)
        if err is not None:
            return err
        body = request[_BODY] or []
        existing = {(c["name"], c.get("type", 1)): c for c in self.synced_commands.get(scope, [])}
        stored: list[JSON] = []
        for cmd in body:
            old = existing.get((cmd["name"], cmd.get("type", 1)))
            out: JSON = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                "name_localizations": None,
                "description_localizations": None,
                **cmd,
                "id": old["id"] if old else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
            }
            if scope is not None:
                out["guild_id"] = str(scope)
            stored.append(out)
        self.synced_commands[scope] = stored
        self._notifier.notify()
        return json_response(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        scope, err = self._command_scope(request)
        if err is not None:
            return err
        return json_response(self.synced_commands.get(scope, []))

    # ------------------------------------------------------------------ interactions / webhooks

    def _interaction_message(
        self, interaction: FakeInteraction, data: JSON, files: list[JSON], flags: int
    ) -> JSON:
        user_id = interaction.user_id
        itype = interaction.payload["type"]
        msg = self._build_message(
            channel_id=interaction.channel_id,
            author=self.bot_user,
            content=data.get("content") or "",
            webhook_id=self.application_id,
            message_type=20 if itype == 2 else 0,
            attachments=self._attachments_from(data, files),
            embeds=data.get("embeds"),
            components=data.get("components"),
            flags=flags,
            tts=bool(data.get("tts", False)),
        )
        # Interaction responses are authored by the bot user, with the app id as webhook_id.
        msg["author"] = self.bot_user.payload()
        msg["application_id"] = str(self.application_id)
        msg["interaction_metadata"] = {
            "id": str(interaction.id),
            "type": itype,
            "user": self.users[user_id].payload()
            if user_id in self.users
            else {"id": str(user_id), "username": "unknown", "discriminator": "0", "avatar": None},
            "authorizing_integration_owners": interaction.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        if itype == 2:
            msg["interaction_metadata"]["name"] = interaction.payload["data"]["name"]
            msg["interaction_metadata"]["command_type"] = interaction.payload["data"]["type"]
        return msg

    async def _publish(self, msg: JSON, event: str = "MESSAGE_CREATE") -> None:
        if not int(msg.get("flags", 0)) & FLAG_EPHEMERAL:
            await self._gateway.dispatch(event, dict(msg))

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(int(request.match_info["iid"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            return error(404, 10062, "Unknown interaction")
        if interaction.acknowledged:
            return error(400, 40060, "Interaction has already been acknowledged.")
        body: JSON = request[_BODY] or {}
        ctype = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        files: list[JSON] = request[_FILES]
        interaction.callback_type = ctype
        flags = int(data.get("flags") or 0)
        message: JSON | None = None
        info: JSON = {"id": str(interaction.id), "type": interaction.payload["type"]}
        if ctype == 4:
            message = self._interaction_message(interaction, data, files, flags & ~FLAG_LOADING)
        elif ctype == 5:
            message = self._interaction_message(
                interaction, {}, [], (flags & FLAG_EPHEMERAL) | FLAG_LOADING
            )
        elif ctype == 7:
            target = self.messages.get(int(interaction.payload["message"]["id"]))
            if target is not None:
                self._apply_edit(target, data, files)
                message = target
        if ctype in (4, 5):
            assert message is not None
            interaction.original = message
            self._model.store(message)
            info.update(
                response_message_id=message["id"],
                response_message_loading=ctype == 5,
                response_message_ephemeral=bool(message["flags"] & FLAG_EPHEMERAL),
            )
        interaction._record("callback", ctype, data, message)
        response: JSON = {"interaction": info}
        if message is not None:
            response["resource"] = {"type": ctype, "message": message}
        elif ctype not in (6, 9):
            response["resource"] = {"type": ctype}
        if ctype in (4, 5) and message is not None:
            await self._publish(message)
        elif ctype == 7 and message is not None:
            await self._publish(message, "MESSAGE_UPDATE")
        return json_response(response)

    def _interaction_by_token(self, request: web.Request) -> FakeInteraction | None:
        if int(request.match_info["app"]) != self.application_id:
            return None
        token = request.match_info["token"]
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def _webhook_execute(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None:
            return error(404, 10015, "Unknown Webhook")
        if not interaction.acknowledged:
            return error(404, 10015, "Unknown Webhook")
        body: JSON = request[_BODY] or {}
        files: list[JSON] = request[_FILES]
        msg = self._interaction_message(interaction, body, files, int(body.get("flags") or 0))
        self._model.store(msg)
        interaction.followups.append(msg)
        interaction._record("followup", None, body, msg)
        await self._publish(msg)
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(msg)
        return web.Response(status=204)

    def _webhook_target(self, interaction: FakeInteraction, mid: str) -> JSON | None:
        if mid == "@original":
            if interaction.original is not None:
                return interaction.original
            if "message" in interaction.payload:  # deferred update of a component message
                return self.messages.get(int(interaction.payload["message"]["id"]))
            return None
        return next((m for m in interaction.followups if m["id"] == mid), None)

    async def _webhook_get(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None:
            return error(404, 10015, "Unknown Webhook")
        msg = self._webhook_target(interaction, request.match_info["mid"])
        if msg is None:
            return error(404, 10008, "Unknown Message")
        return json_response(msg)

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None:
            return error(404, 10015, "Unknown Webhook")
        mid = request.match_info["mid"]
        msg = self._webhook_target(interaction, mid)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        body: JSON = request[_BODY] or {}
        self._apply_edit(msg, body, request[_FILES])
        interaction._record(
            "edit_original" if mid == "@original" else "edit_followup", None, body, msg
        )
        await self._publish(msg, "MESSAGE_UPDATE")
        return json_response(msg)

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        interaction = self._interaction_by_token(request)
        if interaction is None:
            return error(404, 10015, "Unknown Webhook")
        mid = request.match_info["mid"]
        msg = self._webhook_target(interaction, mid)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        interaction._record(
            "delete_original" if mid == "@original" else "delete_followup", None, {}, msg
        )
        if int(msg["id"]) in self.messages:
            ephemeral = bool(int(msg.get("flags", 0)) & FLAG_EPHEMERAL)
            self.messages.pop(int(msg["id"]))
            if not ephemeral:
                data: JSON = {"id": msg["id"], "channel_id": msg["channel_id"]}
                if "guild_id" in msg:
                    data["guild_id"] = msg["guild_id"]
                await self._gateway.dispatch("MESSAGE_DELETE", data)
        return web.Response(status=204)


__all__ = [
    "FakeDiscord",
    "FakeInteraction",
    "FakeUser",
    "RecordedRequest",
]
