"""Voice: who is in which voice channel, and the events Discord sends when that changes.

A gateway op 4 from the bot is answered as Discord does: VOICE_STATE_UPDATE for the bot (with
its voice session id) and, when it joins a channel, VOICE_SERVER_UPDATE (token, guild and the
voice endpoint). Members join channels with ``join`` and leave with ``leave``; ``move_bot`` is
a moderator moving or disconnecting the bot.

Stage channels (type 13) put whoever joins in the audience (``suppress: true``), as Discord
does; ``PATCH /guilds/{id}/voice-states/@me`` moves the bot to the speakers (with Mute Members
in the channel) or raises its hand (with Request to Speak), and is refused otherwise.
https://discord.com/developers/docs/resources/voice#modify-current-user-voice-state
"""

from __future__ import annotations

import uuid
from typing import Any

import discord
from aiohttp import web

from tests.fakes.discord import payloads
from tests.fakes.discord.front import BODY
from tests.fakes.discord.model import STAGE_CHANNEL, FakeUser, Model
from tests.fakes.discord.protocol import API_PREFIX, JSON, Dispatch, error, now_iso
from tests.fakes.discord.waits import Notifier

_MUTE_MEMBERS = discord.Permissions(mute_members=True).value
_REQUEST_TO_SPEAK = discord.Permissions(request_to_speak=True).value
_VOICE_TYPES = (2, STAGE_CHANNEL)


class Voice:
    def __init__(self, model: Model, notifier: Notifier, dispatch: Dispatch) -> None:
        self._model = model
        self._notifier = notifier
        self._dispatch = dispatch
        self.voice_endpoint = "127.0.0.1:9"  # nothing listens: far enough for a voice client
        self.voice_state_patches: list[JSON] = []  # the bot's PATCH voice-states/@me bodies

    def add_routes(self, r: web.UrlDispatcher) -> None:
        r.add_patch(API_PREFIX + "/guilds/{gid}/voice-states/@me", self._patch_my_voice_state)

    def reset(self) -> None:
        self.voice_state_patches.clear()

    @property
    def bot_voice_channel(self) -> int | None:
        return self._model.voice_channel_of.get(self._model.bot_user.id)

    async def _set_voice_state(self, user_id: int, channel_id: int | None, **flags: Any) -> JSON:
        model = self._model
        if channel_id is None:
            model.voice_channel_of.pop(user_id, None)
        elif model.voice_channel_of.get(user_id) != channel_id:
            model.voice_channel_of[user_id] = channel_id
            # A new channel: on a stage, in the audience, no hand raised.
            stage = model.channels[channel_id]["type"] == STAGE_CHANNEL
            flags = {"suppress": stage, "request_to_speak_timestamp": None, **flags}
        model.voice_flags[user_id] = {**model.voice_flags.get(user_id, {}), **flags}
        state = payloads.voice_state(model, user_id)
        self._notifier.notify()
        await self._dispatch("VOICE_STATE_UPDATE", state)
        return state

    def _check_voice_channel(self, channel_id: int | None) -> None:
        if channel_id is None:
            return
        if self._model.channels.get(channel_id, {}).get("type") not in _VOICE_TYPES:
            raise KeyError(f"unknown voice channel {channel_id}")

    async def join(self, user: FakeUser, channel_id: int | None) -> None:
        self._check_voice_channel(channel_id)
        await self._set_voice_state(user.id, channel_id)

    async def leave(self, user: FakeUser) -> None:
        await self._set_voice_state(user.id, None)

    async def move_bot(self, channel_id: int | None) -> None:
        self._check_voice_channel(channel_id)
        await self._set_voice_state(self._model.bot_user.id, channel_id)
        if channel_id is not None:
            await self._dispatch_voice_server()

    async def answer_voice_state(self, d: JSON) -> None:
        """Answer the bot's gateway op 4 (``d``)."""
        if str(d.get("guild_id")) != str(self._model.guild_id):
            return
        channel_id = int(d["channel_id"]) if d.get("channel_id") else None
        await self._set_voice_state(
            self._model.bot_user.id,
            channel_id,
            session_id=uuid.uuid4().hex,
            self_deaf=d.get("self_deaf", False),
            self_mute=d.get("self_mute", False),
        )
        if channel_id is not None:
            await self._dispatch_voice_server()

    async def _dispatch_voice_server(self) -> None:
        server = {
            "token": uuid.uuid4().hex[:16],
            "guild_id": str(self._model.guild_id),
            "endpoint": self.voice_endpoint,
        }
        await self._dispatch("VOICE_SERVER_UPDATE", server)

    async def _patch_my_voice_state(self, request: web.Request) -> web.Response:
        model = self._model
        body: JSON = request[BODY] or {}
        self.voice_state_patches.append(body)
        bot = model.bot_user.id
        current = model.voice_channel_of.get(bot)
        if int(request.match_info["gid"]) != model.guild_id or current is None:
            return error(404, 10065, "Unknown Voice State")
        channel_id = int(body.get("channel_id") or current)
        if channel_id != current:
            return error(404, 10065, "Unknown Voice State")
        if model.channels[channel_id]["type"] != STAGE_CHANNEL:
            return error(400, 50024, "Cannot execute action on this channel type")
        perms = model.channel_permissions(bot, channel_id)
        flags: JSON = {}
        if "suppress" in body:
            # Anyone may go back to the audience; leaving it takes Mute Members.
            if body["suppress"] is False and not perms & _MUTE_MEMBERS:
                return error(403, 50013, "Missing Permissions")
            flags["suppress"] = bool(body["suppress"])
        if body.get("request_to_speak_timestamp") is not None:
            if not perms & _REQUEST_TO_SPEAK:
                return error(403, 50013, "Missing Permissions")
            flags["request_to_speak_timestamp"] = now_iso()
        await self._set_voice_state(bot, channel_id, **flags)
        return web.Response(status=204)
