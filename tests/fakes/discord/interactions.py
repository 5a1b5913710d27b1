# The waiting helpers take a `timeout` argument on purpose: it is the fixtures' public API.
# ruff: noqa: ASYNC109
"""Interactions: INTERACTION_CREATE sent to the bot, its callback, and the followup webhooks
(``/webhooks/{app}/{token}``) the bot answers through afterwards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import cast

from aiohttp import web

from tests.fakes.discord import payloads
from tests.fakes.discord.front import BODY, FILES
from tests.fakes.discord.limits import modal_errors, refused_body
from tests.fakes.discord.messages import Messages, attachments_from
from tests.fakes.discord.model import FakeUser, Model
from tests.fakes.discord.protocol import (
    API_PREFIX,
    ATTACHMENT_SIZE_LIMIT,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    JSON,
    Dispatch,
    FakeClock,
    error,
    json_response,
)
from tests.fakes.discord.waits import Notifier

# https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction
# The first response must come within 3 seconds of the interaction, or its token is
# invalidated (the callback then answers 10062); the token lasts 15 minutes for follow-ups.
FIRST_RESPONSE_SECONDS = 3.0
MODAL_SUBMIT = 5
TOKEN_SECONDS = 15 * 60


class FakeInteraction:
    """An interaction sent to the bot, and every answer the bot gave to it.

    Each entry of ``responses`` is ``{"kind", "type", "payload", "message"}``: ``kind`` is one of
    ``callback``, ``followup``, ``edit_original``, ``delete_original``, ``edit_followup``,
    ``delete_followup``; ``type`` is the callback type (``None`` for webhook calls);
    ``payload`` is the JSON the bot sent (for a callback, its ``data`` object, ``{}`` if none);
    ``message`` is the message as Discord stores it afterwards (flags included), or ``None``.
    """

    def __init__(self, notifier: Notifier, payload: JSON, sent_at: float) -> None:
        self._notifier = notifier
        self.payload = payload
        self.sent_at = sent_at  # on the fake's clock: the deadlines count from here
        # What the fake refused to the bot, each {"kind", "status", "code"}: a late first
        # response, an expired token, a body past Discord's limits.
        self.refusals: list[JSON] = []
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

    def _refuse(self, kind: str, response: web.Response) -> web.Response:
        body = json.loads(cast(bytes, response.body))
        self.refusals.append({"kind": kind, "status": response.status, "code": body["code"]})
        self._notifier.notify()
        return response

    def _record(
        self,
        kind: str,
        type_: int | None,
        payload: JSON,
        message: JSON | None,
        files: list[JSON] | None = None,
    ) -> None:
        self.responses.append(
            {
                "kind": kind,
                "type": type_,
                "payload": payload,
                "message": message,
                "files": files or [],  # each {"filename", "content_type", "data"}: the uploads
            }
        )
        self._notifier.notify()

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

        await self._notifier.wait_for(check, timeout, f"a response to interaction {self.id}")
        return found[0]

    async def wait_for_response(self, timeout: float = 10) -> JSON:
        """The first message-bearing answer: callback 4/7, or a followup/edit after a defer."""
        return await self.wait_for(self._bears_message, timeout)


class Interactions:
    def __init__(
        self,
        model: Model,
        messages: Messages,
        notifier: Notifier,
        dispatch: Dispatch,
        clock: FakeClock,
    ) -> None:
        self._model = model
        self._messages = messages
        self._notifier = notifier
        self._dispatch = dispatch
        self._clock = clock
        self.interactions: dict[int, FakeInteraction] = {}

    def add_routes(self, r: web.UrlDispatcher) -> None:
        p = API_PREFIX
        r.add_post(p + "/interactions/{iid}/{token}/callback", self._callback)
        r.add_post(p + "/webhooks/{app}/{token}", self._webhook_execute)
        r.add_get(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_get)
        r.add_patch(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_edit)
        r.add_delete(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_delete)

    # ------------------------------------------------------------------ sending interactions

    def _base(self, itype: int, user: FakeUser, channel_id: int, locale: str) -> JSON:
        model = self._model
        channel = model.channel(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        iid = model.snowflake()
        payload: JSON = {
            "id": str(iid),
            "application_id": str(model.application_id),
            "type": itype,
            "token": f"itoken-{iid}-{uuid.uuid4().hex}",
            "version": 1,
            "channel": dict(channel),
            "channel_id": str(channel_id),
            "app_permissions": str(model.member_permissions(model.bot_user.id)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if channel_id in model.channels:
            payload["guild_id"] = str(model.guild_id)
            payload["guild"] = {"id": str(model.guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = {
                **payloads.member_payload_for(model, user),
                "permissions": str(model.member_permissions(user.id)),
            }
            payload["authorizing_integration_owners"] = {"0": str(model.guild_id)}
            payload["context"] = 0
        else:
            payload["user"] = user.payload()
            payload["authorizing_integration_owners"] = {"0": str(model.guild_id)}
            payload["context"] = 1
        return payload

    async def _send(self, payload: JSON) -> FakeInteraction:
        interaction = FakeInteraction(self._notifier, payload, self._clock.now())
        self.interactions[interaction.id] = interaction
        await self._dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def send_command(
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
        model = self._model
        payload = self._base(2, user, channel_id, locale)
        command_id: int | None = None
        command_guild: int | None = None
        for scope in (model.guild_id, None):
            for cmd in model.synced_commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == command_type:
                    command_id, command_guild = int(cmd["id"]), scope
                    break
            if command_id is not None:
                break
        data: JSON = {
            "id": str(command_id if command_id is not None else model.snowflake()),
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
        return await self._send(payload)

    async def click(
        self, message: JSON, custom_id: str, *, user: FakeUser, component_type: int = 2
    ) -> FakeInteraction:
        payload = self._base(3, user, int(message["channel_id"]), "en-US")
        stored = self._model.messages.get(int(message["id"]), message)
        payload["message"] = dict(stored)
        payload["data"] = {"custom_id": custom_id, "component_type": component_type}
        return await self._send(payload)

    async def submit_modal(
        self, shown: FakeInteraction, values: list[str], *, user: FakeUser
    ) -> FakeInteraction:
        """The member fills the modal the bot answered `shown` with, one value per text input
        in order, and sends it: INTERACTION_CREATE type 5 (MODAL_SUBMIT)."""
        modal = next(r["payload"] for r in shown.responses if r["type"] == 9)
        rows = modal["components"]
        if len(values) != len(rows):
            raise ValueError(f"the modal has {len(rows)} text inputs")
        payload = self._base(MODAL_SUBMIT, user, shown.channel_id, shown.payload["locale"])
        payload["data"] = {
            "custom_id": modal["custom_id"],
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 4, "custom_id": row["components"][0]["custom_id"], "value": v}
                    ],
                }
                for row, v in zip(rows, values, strict=True)
            ],
        }
        return await self._send(payload)

    # ------------------------------------------------------------------ the bot's answers

    def _message(
        self, interaction: FakeInteraction, data: JSON, files: list[JSON], flags: int
    ) -> JSON:
        model = self._model
        user_id = interaction.user_id
        itype = interaction.payload["type"]
        msg = self._messages.build(
            channel_id=interaction.channel_id,
            author=model.bot_user,
            content=data.get("content") or "",
            webhook_id=model.application_id,
            message_type=20 if itype == 2 else 0,
            attachments=attachments_from(data, files),
            embeds=data.get("embeds"),
            components=data.get("components"),
            flags=flags,
            tts=bool(data.get("tts", False)),
        )
        # Interaction responses are authored by the bot user, with the app id as webhook_id.
        msg["author"] = model.bot_user.payload()
        msg["application_id"] = str(model.application_id)
        msg["interaction_metadata"] = {
            "id": str(interaction.id),
            "type": itype,
            "user": model.users[user_id].payload()
            if user_id in model.users
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
            await self._dispatch(event, dict(msg))

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(int(request.match_info["iid"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            return error(404, 10062, "Unknown interaction")
        if interaction.acknowledged:
            return error(400, 40060, "Interaction has already been acknowledged.")
        if self._clock.now() - interaction.sent_at > FIRST_RESPONSE_SECONDS:
            return interaction._refuse("callback", error(404, 10062, "Unknown interaction"))
        body: JSON = request[BODY] or {}
        ctype = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        files: list[JSON] = request[FILES]
        if ctype in (4, 7) and (refused := refused_body(data, files)) is not None:
            return interaction._refuse("callback", refused)
        if ctype == 9:
            # A modal answers a command or a component, never another modal's submission.
            if interaction.payload["type"] == MODAL_SUBMIT:
                return interaction._refuse(
                    "callback", error(400, 50035, "Invalid Form Body", {"type": "modal"})
                )
            if errors := modal_errors(data):
                return interaction._refuse(
                    "callback", error(400, 50035, "Invalid Form Body", {"data": errors})
                )
        interaction.callback_type = ctype
        flags = int(data.get("flags") or 0)
        message: JSON | None = None
        info: JSON = {"id": str(interaction.id), "type": interaction.payload["type"]}
        if ctype == 4:
            message = self._message(interaction, data, files, flags & ~FLAG_LOADING)
        elif ctype == 5:
            message = self._message(interaction, {}, [], (flags & FLAG_EPHEMERAL) | FLAG_LOADING)
        elif ctype == 7:
            target = self._model.messages.get(int(interaction.payload["message"]["id"]))
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
        interaction._record("callback", ctype, data, message, files)
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

    def _by_token(self, request: web.Request) -> FakeInteraction | None:
        if int(request.match_info["app"]) != self._model.application_id:
            return None
        token = request.match_info["token"]
        return next((i for i in self.interactions.values() if i.token == token), None)

    def _expired(self, interaction: FakeInteraction, kind: str) -> web.Response | None:
        """The webhook token's 15 minutes are over: Discord answers 401 50027."""
        if self._clock.now() - interaction.sent_at <= TOKEN_SECONDS:
            return None
        return interaction._refuse(kind, error(401, 50027, "Invalid Webhook Token"))

    async def _webhook_execute(self, request: web.Request) -> web.Response:
        interaction = self._by_token(request)
        if interaction is None:
            return error(404, 10015, "Unknown Webhook")
        if (expired := self._expired(interaction, "followup")) is not None:
            return expired
        if not interaction.acknowledged:
            return error(404, 10015, "Unknown Webhook")
        body: JSON = request[BODY] or {}
        files: list[JSON] = request[FILES]
        if (refused := refused_body(body, files)) is not None:
            return interaction._refuse("followup", refused)
        original = interaction.original
        if original is not None and int(original.get("flags", 0)) & FLAG_LOADING:
            # The first follow-up after a deferred response edits the "thinking" message
            # instead of sending one, and keeps the defer's ephemeral choice whatever the
            # follow-up asks: a public defer makes a public answer, an ephemeral one a private
            # answer (https://discord.com/developers/docs/interactions/receiving-and-responding#create-followup-message).
            self._messages.apply_edit(original, body, files)
            msg = original
            interaction.followups.append(msg)
            interaction._record("followup", None, body, msg, files)
            await self._publish(msg, "MESSAGE_UPDATE")
        else:
            msg = self._message(interaction, body, files, int(body.get("flags") or 0))
            self._model.store(msg)
            interaction.followups.append(msg)
            interaction._record("followup", None, body, msg, files)
            await self._publish(msg)
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(msg)
        return web.Response(status=204)

    def _webhook_target(self, interaction: FakeInteraction, mid: str) -> JSON | None:
        if mid == "@original":
            if interaction.original is not None:
                return interaction.original
            if "message" in interaction.payload:  # deferred update of a component message
                return self._model.messages.get(int(interaction.payload["message"]["id"]))
            return None
        return next((m for m in interaction.followups if m["id"] == mid), None)

    async def _webhook_get(self, request: web.Request) -> web.Response:
        interaction = self._by_token(request)
        if interaction is None:
            return error(404, 10015, "Unknown Webhook")
        if (expired := self._expired(interaction, "get")) is not None:
            return expired
        msg = self._webhook_target(interaction, request.match_info["mid"])
        if msg is None:
            return error(404, 10008, "Unknown Message")
        return json_response(msg)

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        interaction = self._by_token(request)
        if interaction is None:
            return error(404, 10015, "Unknown Webhook")
        mid = request.match_info["mid"]
        kind = "edit_original" if mid == "@original" else "edit_followup"
        if (expired := self._expired(interaction, kind)) is not None:
            return expired
        msg = self._webhook_target(interaction, mid)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        body: JSON = request[BODY] or {}
        if (refused := refused_body(body, request[FILES])) is not None:
            return interaction._refuse(kind, refused)
        self._messages.apply_edit(msg, body, request[FILES])
        interaction._record(
            "edit_original" if mid == "@original" else "edit_followup", None, body, msg
        )
        await self._publish(msg, "MESSAGE_UPDATE")
        return json_response(msg)

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        interaction = self._by_token(request)
        if interaction is None:
            return error(404, 10015, "Unknown Webhook")
        mid = request.match_info["mid"]
        if (expired := self._expired(interaction, "delete")) is not None:
            return expired
        msg = self._webhook_target(interaction, mid)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        interaction._record(
            "delete_original" if mid == "@original" else "delete_followup", None, {}, msg
        )
        if int(msg["id"]) in self._model.messages:
            ephemeral = bool(int(msg.get("flags", 0)) & FLAG_EPHEMERAL)
            self._model.messages.pop(int(msg["id"]))
            if not ephemeral:
                data: JSON = {"id": msg["id"], "channel_id": msg["channel_id"]}
                if "guild_id" in msg:
                    data["guild_id"] = msg["guild_id"]
                await self._dispatch("MESSAGE_DELETE", data)
        return web.Response(status=204)
