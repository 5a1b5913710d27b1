"""Voice: who is in which voice channel, and the events Discord sends when that changes.

A gateway op 4 from the bot is answered as Discord does: VOICE_STATE_UPDATE for the bot (with
its voice session id) and, when it joins a channel, VOICE_SERVER_UPDATE (token, guild and the
voice endpoint). Members join channels with ``join`` and leave with ``leave``; ``move_bot`` is
a moderator moving or disconnecting the bot.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes.discord import payloads
from tests.fakes.discord.model import FakeUser, Model
from tests.fakes.discord.protocol import JSON, Dispatch
from tests.fakes.discord.waits import Notifier


class Voice:
    def __init__(self, model: Model, notifier: Notifier, dispatch: Dispatch) -> None:
        self._model = model
        self._notifier = notifier
        self._dispatch = dispatch
        self.voice_endpoint = "127.0.0.1:9"  # nothing listens: far enough for a voice client

    @property
    def bot_voice_channel(self) -> int | None:
        return self._model.voice_channel_of.get(self._model.bot_user.id)

    async def _set_voice_state(self, user_id: int, channel_id: int | None, **flags: Any) -> JSON:
        model = self._model
        if channel_id is None:
            model.voice_channel_of.pop(user_id, None)
        else:
            model.voice_channel_of[user_id] = channel_id
        model.voice_flags[user_id] = {**model.voice_flags.get(user_id, {}), **flags}
        state = payloads.voice_state(model, user_id)
        self._notifier.notify()
        await self._dispatch("VOICE_STATE_UPDATE", state)
        return state

    def _check_voice_channel(self, channel_id: int | None) -> None:
        if channel_id is not None and self._model.channels.get(channel_id, {}).get("type") != 2:
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
