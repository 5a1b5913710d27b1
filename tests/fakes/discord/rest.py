"""REST routes of API v10 for users, channels, messages, the guild and application commands
(interaction callbacks and webhooks are in ``interactions.py``, the gateway's in ``gateway.py``).
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.discord import payloads
from tests.fakes.discord.front import BODY, FILES
from tests.fakes.discord.limits import commands_errors, refused_body
from tests.fakes.discord.messages import Messages, attachments_from
from tests.fakes.discord.model import Model
from tests.fakes.discord.protocol import API_PREFIX, JSON, Dispatch, error, json_response
from tests.fakes.discord.quirks import Quirks
from tests.fakes.discord.waits import Notifier

_UNKNOWN_REFERENCE = {
    "message_reference": {
        "_errors": [{"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]
    }
}


class Rest:
    def __init__(
        self,
        model: Model,
        messages: Messages,
        notifier: Notifier,
        dispatch: Dispatch,
        quirks: Quirks,
    ) -> None:
        self._model = model
        self._quirks = quirks
        self._messages = messages
        self._notifier = notifier
        self._dispatch = dispatch
        # Recorded traffic
        self.sent_messages: list[JSON] = []
        self.deleted_messages: list[int] = []
        self.typing: list[int] = []
        self.reactions: list[tuple[int, int, str]] = []

    def reset(self) -> None:
        self.sent_messages.clear()
        self.deleted_messages.clear()
        self.typing.clear()
        self.reactions.clear()

    def add_routes(self, r: web.UrlDispatcher) -> None:
        p = API_PREFIX
        r.add_get(p + "/users/@me", self._get_me)
        r.add_post(p + "/users/@me/channels", self._create_dm)
        r.add_get(p + "/oauth2/applications/@me", self._get_application)
        r.add_get(p + "/applications/@me", self._get_application)
        r.add_get(p + "/channels/{cid}", self._get_channel)
        r.add_post(p + "/channels/{cid}/messages", self._create_message)
        r.add_get(p + "/channels/{cid}/messages", self._history)
        r.add_get(p + "/channels/{cid}/messages/{mid}", self._get_message)
        r.add_patch(p + "/channels/{cid}/messages/{mid}", self._edit_message)
        r.add_delete(p + "/channels/{cid}/messages/{mid}", self._delete_message)
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

    # ------------------------------------------------------------------ users, application

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_response(payloads.me_payload(self._model))

    async def _get_application(self, request: web.Request) -> web.Response:
        application = payloads.application_payload(self._model)
        if self._quirks.application_without_flags:
            del application["flags"]
        return json_response(application)

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = request[BODY] or {}
        uid = int(body.get("recipient_id", 0))
        user = self._model.users.get(uid)
        if user is None:
            return error(400, 50033, "Invalid Recipient(s)")
        return json_response(self._model.dm_channel_for(user))

    # ------------------------------------------------------------------ channels, messages

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._model.channel(int(request.match_info["cid"]))
        if channel is None:
            return error(404, 10003, "Unknown Channel")
        return json_response(channel)

    def _message_in(self, request: web.Request) -> JSON | None:
        msg = self._model.messages.get(int(request.match_info["mid"]))
        if msg is None or msg["channel_id"] != request.match_info["cid"]:
            return None
        return msg

    async def _create_message(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["cid"])
        if self._model.channel(cid) is None:
            return error(404, 10003, "Unknown Channel")
        body: JSON = request[BODY] or {}
        files: list[JSON] = request[FILES]
        odd_refusal = self._quirks.reference_refused_with
        if odd_refusal is not None and body.get("message_reference"):
            return json_response(odd_refusal, 400)
        content = body.get("content") or ""
        if (refused := refused_body(body, files)) is not None:
            return refused
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
            if reply_to not in self._model.messages:
                if ref.get("fail_if_not_exists", True):
                    return error(400, 50035, "Invalid Form Body", _UNKNOWN_REFERENCE)
                reply_to = None
        msg = self._messages.build(
            channel_id=cid,
            author=self._model.bot_user,
            content=content,
            reply_to=reply_to,
            attachments=attachments_from(body, files),
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
        await self._dispatch("MESSAGE_CREATE", msg)
        return json_response(msg)

    async def _history(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if self._model.channel(int(cid)) is None:
            return error(404, 10003, "Unknown Channel")
        limit = max(1, min(100, int(request.query.get("limit", "50"))))
        msgs = sorted(
            (m for m in self._model.messages.values() if m["channel_id"] == cid),
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
        odd = self._quirks.null_thread_in_history
        return json_response(
            [{**m, "thread": None} if int(m["id"]) in odd else m for m in reversed(msgs)]
        )

    async def _get_message(self, request: web.Request) -> web.Response:
        msg = self._message_in(request)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        return json_response(msg)

    async def _edit_message(self, request: web.Request) -> web.Response:
        msg = self._message_in(request)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        body: JSON = request[BODY] or {}
        if msg["author"]["id"] != str(self._model.bot_user.id) and set(body) - {"flags"}:
            return error(403, 50005, "Cannot edit a message authored by another user")
        if (refused := refused_body(body, request[FILES])) is not None:
            return refused
        self._messages.apply_edit(msg, body, request[FILES])
        self._notifier.notify()
        await self._dispatch("MESSAGE_UPDATE", dict(msg))
        return json_response(msg)

    async def _delete_message(self, request: web.Request) -> web.Response:
        msg = self._message_in(request)
        if msg is None:
            return error(404, 10008, "Unknown Message")
        self.deleted_messages.append(int(msg["id"]))
        self._notifier.notify()
        await self._messages.delete(int(msg["id"]))
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

    # ------------------------------------------------------------------ the guild

    def _check_guild(self, request: web.Request) -> web.Response | None:
        if int(request.match_info["gid"]) != self._model.guild_id:
            return error(404, 10004, "Unknown Guild")
        return None

    async def _get_guild(self, request: web.Request) -> web.Response:
        if (err := self._check_guild(request)) is not None:
            return err
        data = payloads.guild_payload(self._model)
        if self._quirks.guild_without_roles:
            del data["roles"]
        if request.query.get("with_counts") in ("true", "1", "True"):
            data["approximate_member_count"] = len(self._model.guild_members)
            data["approximate_presence_count"] = 0
        return json_response(data)

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        if (err := self._check_guild(request)) is not None:
            return err
        return json_response(list(self._model.channels.values()))

    async def _get_guild_roles(self, request: web.Request) -> web.Response:
        if (err := self._check_guild(request)) is not None:
            return err
        return json_response(list(self._model.roles.values()))

    async def _get_member(self, request: web.Request) -> web.Response:
        if (err := self._check_guild(request)) is not None:
            return err
        uid = int(request.match_info["uid"])
        if uid not in self._model.guild_members:
            return error(404, 10007, "Unknown Member")
        return json_response(payloads.member_payload(self._model, uid))

    # ------------------------------------------------------------------ application commands

    def _command_scope(self, request: web.Request) -> tuple[int | None, web.Response | None]:
        if int(request.match_info["app"]) != self._model.application_id:
            return None, error(403, 50001, "Missing Access")
        if "gid" in request.match_info:
            err = self._check_guild(request)
            return int(request.match_info["gid"]), err
        return None, None

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope, err = self._command_scope(request)
        if err is not None:
            return err
        model = self._model
        body = request[BODY] or []
        if errors := commands_errors(body):
            return error(400, 50035, "Invalid Form Body", errors)
        existing = {(c["name"], c.get("type", 1)): c for c in model.synced_commands.get(scope, [])}
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
                "id": old["id"] if old else str(model.snowflake()),
                "application_id": str(model.application_id),
                "version": str(model.snowflake()),
            }
            if scope is not None:
                out["guild_id"] = str(scope)
            stored.append(out)
        model.synced_commands[scope] = stored
        self._notifier.notify()
        return json_response(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        scope, err = self._command_scope(request)
        if err is not None:
            return err
        return json_response(self._model.synced_commands.get(scope, []))
