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
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, cast, overload

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from tests.fakes.discord import payloads
from tests.fakes.discord.faults import Faults
from tests.fakes.discord.front import BODY, FILES, Front, RecordedRequest
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.messages import Messages, attachments_from
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
)
from tests.fakes.discord.rest import Rest
from tests.fakes.discord.voice import Voice
from tests.fakes.discord.waits import Notifier
from tests.fakes.loopback import serve_on_loopback

T = TypeVar("T")


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
    # Recorded traffic: REST
    requests = _Forward[list[RecordedRequest]]("_front")
    unhandled = _Forward[list[str]]("_front")
    sent_messages = _Forward[list[JSON]]("_rest")
    deleted_messages = _Forward[list[int]]("_rest")
    typing = _Forward[list[int]]("_rest")
    reactions = _Forward[list[tuple[int, int, str]]]("_rest")
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

        self._address = Address()
        self._notifier = Notifier()
        self._faults = Faults()
        self._front = Front(self._model, self._notifier, self._faults)
        self._gateway = Gateway(self._model, self._notifier, self._address)
        dispatch = self._gateway.dispatch
        self._messages = Messages(self._model, self._address, dispatch)
        self._rest = Rest(self._model, self._messages, self._notifier, dispatch)
        self.interactions: dict[int, FakeInteraction] = {}
        self._voice = Voice(self._model, self._notifier, dispatch)
        self._gateway.on_voice_state = self._voice.answer_voice_state
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(middlewares=[self._front.middleware])
        r = app.router
        p = API_PREFIX
        self._gateway.add_routes(r)
        self._rest.add_routes(r)
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

    def reset(self) -> None:
        """Clear recordings and queued failures (guild, messages and sessions are kept)."""
        self._front.reset()
        self._rest.reset()
        self._gateway.reset()
        self._faults.clear()

    # ------------------------------------------------------------------ the guild

    def snowflake(self) -> int:
        """A new increasing snowflake for the current time."""
        return self._model.snowflake()

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
        return await self._messages.post(
            channel_id,
            author,
            content,
            webhook_id=webhook_id,
            message_type=message_type,
            mentions=mentions,
            reply_to=reply_to,
            attachments=attachments,
            embeds=embeds,
            in_guild=in_guild,
        )

    async def edit_message(self, message_id: int, content: str) -> JSON:
        return await self._messages.edit(message_id, content)

    async def delete_message(self, message_id: int) -> None:
        await self._messages.delete(message_id)

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

    # ------------------------------------------------------------------ failures

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
        self._faults.fail_next(
            method, path_prefix, status=status, body=body, headers=headers, times=times
        )

    def fail_next_rate_limited(
        self, method: str, path_prefix: str, *, retry_after: float = 0.05, times: int = 1
    ) -> None:
        """A realistic per-route 429 that discord.py retries (it needs the ``Via`` header)."""
        self._faults.fail_next_rate_limited(
            method, path_prefix, retry_after=retry_after, times=times
        )

    # ------------------------------------------------------------------ interactions / webhooks

    def _interaction_message(
        self, interaction: FakeInteraction, data: JSON, files: list[JSON], flags: int
    ) -> JSON:
        user_id = interaction.user_id
        itype = interaction.payload["type"]
        msg = self._messages.build(
            channel_id=interaction.channel_id,
            author=self.bot_user,
            content=data.get("content") or "",
            webhook_id=self.application_id,
            message_type=20 if itype == 2 else 0,
            attachments=attachments_from(data, files),
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
        body: JSON = request[BODY] or {}
        ctype = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        files: list[JSON] = request[FILES]
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
                self._messages.apply_edit(target, data, files)
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
        body: JSON = request[BODY] or {}
        files: list[JSON] = request[FILES]
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
        body: JSON = request[BODY] or {}
        self._messages.apply_edit(msg, body, request[FILES])
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
