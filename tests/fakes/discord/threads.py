"""Threads and forum posts: thread channels (types 11 and 12) under a text channel or a forum
channel (type 15), their events (THREAD_CREATE, THREAD_UPDATE, THREAD_DELETE) and the
active-threads route. Shapes follow discord.py 2.7's ``threads.py`` (``Thread._from_data``,
``ThreadMember``) and ``channel.py`` (``ForumChannel._update``).

Every thread of the fake is visible to the bot: a private thread is one the bot was added to
(it carries the bot's thread ``member``), as Discord only tells a bot about those.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.discord.messages import Messages
from tests.fakes.discord.model import FakeUser, Model, text_channel_payload
from tests.fakes.discord.protocol import API_PREFIX, JSON, Dispatch, error, json_response, now_iso
from tests.fakes.discord.waits import Notifier

PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
FORUM_CHANNEL = 15


def forum_channel_payload(guild_id: int, cid: int, name: str, position: int) -> JSON:
    """A text channel's fields, and what a forum adds."""
    return {
        **text_channel_payload(guild_id, cid, name, position),
        "type": FORUM_CHANNEL,
        "default_auto_archive_duration": 1440,
        "default_thread_rate_limit_per_user": 0,
        "available_tags": [],
        "default_reaction_emoji": None,
        "default_sort_order": None,
        "default_forum_layout": 0,
    }


def thread_member(model: Model, thread_id: int) -> JSON:
    """The bot's own thread member object."""
    return {
        "id": str(thread_id),
        "user_id": str(model.bot_user.id),
        "join_timestamp": now_iso(),
        "flags": 0,
    }


def thread_payload(
    model: Model, *, thread_id: int, parent_id: int, owner_id: int, name: str, private: bool
) -> JSON:
    created = now_iso()
    metadata: JSON = {
        "archived": False,
        "auto_archive_duration": 1440,
        "archive_timestamp": created,
        "locked": False,
        "create_timestamp": created,
    }
    thread: JSON = {
        "id": str(thread_id),
        "type": PRIVATE_THREAD if private else PUBLIC_THREAD,
        "guild_id": str(model.guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": metadata,
    }
    if private:
        metadata["invitable"] = True
        thread["member"] = thread_member(model, thread_id)
    return thread


class Threads:
    def __init__(
        self, model: Model, messages: Messages, notifier: Notifier, dispatch: Dispatch
    ) -> None:
        self._model = model
        self._messages = messages
        self._notifier = notifier
        self._dispatch = dispatch

    def add_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get(API_PREFIX + "/guilds/{gid}/threads/active", self._active_threads)

    # ------------------------------------------------------------------ the guild's state

    def add_forum_channel(self, channel_id: int, name: str) -> JSON:
        """A forum channel (state only: give it before the bot connects)."""
        channel = forum_channel_payload(
            self._model.guild_id, channel_id, name, len(self._model.channels)
        )
        self._model.channels[channel_id] = channel
        return channel

    def _new_thread(self, parent_id: int, owner: FakeUser, name: str, *, private: bool) -> JSON:
        parent = self._model.channels.get(parent_id)
        if parent is None or parent["type"] not in (0, FORUM_CHANNEL):
            raise KeyError(f"no text or forum channel {parent_id} to hold a thread")
        if private and parent["type"] != 0:
            raise ValueError("private threads live in text channels only")
        self._model.users.setdefault(owner.id, owner)
        thread = thread_payload(
            self._model,
            thread_id=self._model.snowflake(),
            parent_id=parent_id,
            owner_id=owner.id,
            name=name,
            private=private,
        )
        self._model.threads[int(thread["id"])] = thread
        return thread

    # ------------------------------------------------------------------ driving events

    async def start(
        self, parent_id: int, owner: FakeUser, name: str, *, private: bool = False
    ) -> JSON:
        """A member starts a thread in a text channel: THREAD_CREATE (newly created)."""
        thread = self._new_thread(parent_id, owner, name, private=private)
        await self._dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        self._notifier.notify()
        return thread

    async def post_in_forum(
        self, forum_id: int, owner: FakeUser, title: str, content: str
    ) -> tuple[JSON, JSON]:
        """A member posts in a forum channel: a thread whose starter message has its id
        (THREAD_CREATE, then MESSAGE_CREATE in the thread). Returns both."""
        thread = self._new_thread(forum_id, owner, title, private=False)
        self._model.channels[forum_id]["last_message_id"] = thread["id"]
        await self._dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        starter = await self._messages.post(
            int(thread["id"]), owner, content, message_id=int(thread["id"])
        )
        return thread, starter

    async def archive(self, thread_id: int) -> JSON:
        """The thread is archived (by a member, or after its inactivity): THREAD_UPDATE."""
        thread = self._model.threads[thread_id]
        thread["thread_metadata"]["archived"] = True
        thread["thread_metadata"]["archive_timestamp"] = now_iso()
        await self._dispatch("THREAD_UPDATE", dict(thread))
        self._notifier.notify()
        return thread

    async def delete(self, thread_id: int) -> None:
        """A moderator deletes the thread, and its messages with it: THREAD_DELETE."""
        thread = self._model.threads.pop(thread_id)
        for message_id in [
            mid for mid, m in self._model.messages.items() if m["channel_id"] == thread["id"]
        ]:
            del self._model.messages[message_id]
        await self._dispatch(
            "THREAD_DELETE",
            {
                "id": thread["id"],
                "guild_id": thread["guild_id"],
                "parent_id": thread["parent_id"],
                "type": thread["type"],
            },
        )
        self._notifier.notify()

    # ------------------------------------------------------------------ REST

    async def _active_threads(self, request: web.Request) -> web.Response:
        if int(request.match_info["gid"]) != self._model.guild_id:
            return error(404, 10004, "Unknown Guild")
        active = [t for t in self._model.threads.values() if not t["thread_metadata"]["archived"]]
        members = [t["member"] for t in active if "member" in t]
        return json_response({"threads": active, "members": members, "has_more": False})
