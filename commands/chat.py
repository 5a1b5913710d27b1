"""The passive listener: stores what is said in the watched channels and threads, and takes
part in it.

Discord objects stop here: each message becomes a `StoredMessage` plus whether it addresses
the bot (`commands/chat_reading.py`), `ReplyPolicy.take` decides the rest, and a trigger is
answered in the background (`commands/chat_reply.py`). What was said while the bot was away
is read back by `commands/catchup.py`.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque

import discord
from discord.ext import commands

from commands.chat_reading import ChatReader
from commands.chat_reply import ChatReplies
from services.background import BackgroundTasks
from services.conversation.catch_up import LiveMarks
from services.conversation.conversation import Decision
from services.conversation.reply_policy import MessageFacts, ReplyPolicy, Trigger
from services.servers.watched_channels import forget_channel
from services.store import MessageStore, StoreOutageError

log = logging.getLogger(__name__)


class ChatCog(commands.Cog):
    def __init__(
        self,
        *,
        store: MessageStore,
        policy: ReplyPolicy,
        reader: ChatReader,
        replies: ChatReplies,
        tasks: BackgroundTasks,
        live: LiveMarks,
    ) -> None:
        self._store = store
        self._policy = policy
        self._reader = reader
        self._replies = replies
        self._tasks = tasks
        self._live = live

    @property
    def decisions(self) -> deque[Decision]:
        """The latest decisions, bounded: what the bot did and why, for operators and tests."""
        return self._replies.decisions

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        facts = self._reader.facts(message)
        if facts is None:
            return
        # Where live begins in this channel: older messages are the catch-up's.
        self._live.note(facts.message.channel_id, facts.message.message_id)
        # No await before this call: the store counts messages in the order they arrive.
        step = await self._policy.take(facts)
        if isinstance(step, Trigger):
            # In the background: the listener must keep storing while Azure thinks.
            self._tasks.spawn(
                self._replies.respond(message, step),
                "reply",
                guild=step.guild_id,
                channel=step.channel_id,
                message=step.message_id,
            )
        elif step.reason == "flooding":
            self._replies.record(
                Decision(_flood_trigger(facts, step.count), "skipped", "the author is flooding")
            )

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if not self._reader.may_hold(payload.guild_id, payload.channel_id):
            return
        edited_at = payload.message.edited_at
        if edited_at is None:  # an embed resolving or a pin, not an edit by the author
            return
        # In an outage the store has logged it once; the next catch-up reads the edit again.
        with contextlib.suppress(StoreOutageError):
            await self._store.edit(payload.message_id, payload.message.content, edited_at)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if self._reader.may_hold(payload.guild_id, payload.channel_id):
            with contextlib.suppress(StoreOutageError):  # logged once by the store
                await self._store.delete(payload.message_id)

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if self._reader.may_hold(payload.guild_id, payload.channel_id):
            with contextlib.suppress(StoreOutageError):  # logged once by the store
                await self._store.delete_many(sorted(payload.message_ids))

    # -- threads and channels that end ------------------------------------------------------

    @commands.Cog.listener()
    async def on_thread_update(self, before: discord.Thread, after: discord.Thread) -> None:
        if after.archived:  # an archived thread keeps its messages, and nothing runs for it
            self._live.forget(after.id)

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        if self._reader.rule.watches(payload.guild_id, payload.thread_id, payload.parent_id):
            await self._forget(payload.thread_id, "thread")

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        if not self._reader.watches(channel):
            return
        # Its threads go with it; those the cache holds are forgotten now, archived ones by
        # retention.
        threads = [t.id for t in channel.guild.threads if t.parent_id == channel.id]
        for channel_id in (channel.id, *threads):
            await self._forget(channel_id, "channel")

    async def _forget(self, channel_id: int, what: str) -> None:
        self._live.forget(channel_id)
        forgotten = await forget_channel(self._store, channel_id)
        log.info("%s %s deleted: %d stored message(s) removed", what, channel_id, forgotten)


def _flood_trigger(facts: MessageFacts, count: int | None) -> Trigger:
    """The beat a flood skipped, for the decisions log."""
    message = facts.message
    return Trigger(
        guild_id=message.guild_id,
        channel_id=message.channel_id,
        message_id=message.message_id,
        author_id=message.author_id,
        reason="beat",
        count=count,
    )
