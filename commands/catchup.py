"""Catch-up: after a fresh gateway session, read back what was said while the bot was away.

discord.py dispatches `on_connect` on READY, that is after a fresh IDENTIFY (a start, or a
reconnect that could not RESUME), never after a RESUME (whose missed events Discord replays).
The guild's channels and active threads are known once it is available; then, in the
background, each watched channel and thread has its history read (newest first, at most
CATCHUP_MESSAGES, back to where the bot stopped hearing it) and handed
to `services.conversation.catch_up.CatchUp`, which holds every rule; the one late answer it
may choose is posted like a live one.

One bad message or channel costs only itself: a message discord.py cannot read (a
Discord-compatible server's odd payload) is skipped and logged, and the rest of its page is
taken; a channel whose catch-up fails is logged, and the next one is caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import discord
from discord.ext import commands

from commands.chat_reading import ChatReader
from commands.chat_reply import ChatReplies
from services.background import BackgroundTasks
from services.conversation.catch_up import CatchUp, CatchUpReport, HistoryMessage, LiveMarks, Window
from services.conversation.conversation import Decision

log = logging.getLogger(__name__)

Readable = discord.TextChannel | discord.VoiceChannel | discord.StageChannel | discord.Thread
# Guild channels with a history of their own (a forum channel has none: its posts are threads).
_WITH_HISTORY = (discord.TextChannel, discord.VoiceChannel, discord.StageChannel)
PAGE = 100  # messages per GET /channels/{id}/messages, Discord's maximum


class CatchUpCog(commands.Cog):
    def __init__(
        self,
        *,
        catch_up: CatchUp,
        reader: ChatReader,
        replies: ChatReplies,
        tasks: BackgroundTasks,
        live: LiveMarks,
    ) -> None:
        self._catch_up = catch_up
        self._reader = reader
        self._replies = replies
        self._tasks = tasks
        self._live = live
        self._caught_up: set[int] = set()  # guilds caught up in this session
        self._running: dict[int, asyncio.Task[None]] = {}  # by guild

    async def cog_unload(self) -> None:
        running = list(self._running.values())
        for task in running:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*running, return_exceptions=True)

    @commands.Cog.listener()
    async def on_connect(self) -> None:
        # A new session; nothing awaits here, so this runs before any of its messages is taken.
        self._live.new_session()
        self._caught_up.clear()

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        if guild.id in self._caught_up or not self._reader.rule.serves(guild.id):
            return  # back after an outage in the same session, or not a guild the bot serves
        self._caught_up.add(guild.id)
        previous = self._running.pop(guild.id, None)
        if previous is not None:  # a catch-up of the session before: this one supersedes it
            previous.cancel()
        task = self._tasks.spawn(self._catch_up_guild(guild), "catch-up", guild=guild.id)
        self._running[guild.id] = task
        task.add_done_callback(lambda done: self._forget_task(guild.id, done))

    def _forget_task(self, guild_id: int, task: asyncio.Task[None]) -> None:
        if self._running.get(guild_id) is task:
            del self._running[guild_id]

    def _readable(self, guild: discord.Guild) -> dict[int, Readable]:
        """The watched channels whose history can be read, and their active threads."""
        channels: dict[int, Readable] = {
            c.id: c
            for c in guild.channels
            if isinstance(c, _WITH_HISTORY) and self._reader.watches(c)
        }
        for thread in guild.threads:
            if not thread.archived and self._reader.watches(thread):
                channels[thread.id] = thread
        return channels

    async def _catch_up_guild(self, guild: discord.Guild) -> None:
        started = time.monotonic()
        channels = self._readable(guild)
        windows = await self._catch_up.windows(channels, self._live.first)
        for window in windows:
            channel = channels[window.channel_id]
            if isinstance(channel, discord.Thread) and guild.get_thread(channel.id) is None:
                continue  # archived or deleted since: nothing is left running for it
            try:
                await self._catch_up_channel(channel, window)
            except discord.HTTPException as error:
                log.warning("catch-up of channel %s failed: %s", channel.id, error)
            except Exception:
                # A bug or an unreadable answer: that channel's backlog is lost, not the guild's.
                log.exception("catch-up of channel %s failed", channel.id)
        if windows:
            log.info(
                "catch-up of guild %s: %d channel(s) in %.2f s",
                guild.id,
                len(windows),
                time.monotonic() - started,
            )

    async def _catch_up_channel(self, channel: Readable, window: Window) -> CatchUpReport:
        limit = self._catch_up.limit
        started = time.monotonic()
        fetched, complete = await self._read_history(channel, window.after, limit)
        fetched.reverse()  # oldest first: the order they are counted in
        history: list[HistoryMessage] = []
        for message in fetched:
            try:
                history.append(HistoryMessage(message.id, self._reader.facts(message)))
            except Exception as error:
                _skipped(channel, message.id, error)
        read = time.monotonic()
        report = await self._catch_up.take(window, history, complete=complete)
        log.info(
            "caught up %s (history read in %.2f s, taken in %.2f s)",
            report.describe(),
            read - started,
            time.monotonic() - read,
        )
        for trigger, reason in report.choice.skipped:
            self._replies.record(Decision(trigger, "skipped", reason))
        answer = report.choice.answer
        if answer is not None:
            message = next(m for m in fetched if m.id == answer.message_id)
            self._tasks.spawn(
                self._replies.respond(message, answer),
                "late reply",
                guild=answer.guild_id,
                channel=answer.channel_id,
                message=answer.message_id,
            )
        return report

    async def _read_history(
        self, channel: Readable, after: int, limit: int
    ) -> tuple[list[discord.Message], bool]:
        """The channel's messages above `after`, newest first, at most `limit`, and whether
        they reach back to `after`. Read page by page like `channel.history` does, but each
        message is made on its own: `history` ends at the first payload discord.py cannot
        read, which here is skipped (and logged) instead."""
        # discord.py's own pieces: its HTTP client and the channel's connection state, the
        # ones `history` uses (neither is documented, both are stable across 2.x).
        state = channel._state
        messages: list[discord.Message] = []
        before: int | None = None
        left = limit
        while left > 0:
            asked = min(left, PAGE)
            page = await state.http.logs_from(channel.id, asked, before=before)
            left -= len(page)
            newer = [raw for raw in page if int(raw["id"]) > after]
            for raw in newer:
                try:
                    messages.append(state.create_message(channel=channel, data=raw))
                except Exception as error:
                    _skipped(channel, int(raw["id"]), error)
            if len(newer) < len(page) or len(page) < asked:
                return messages, True  # the window, or the whole history, ends in this page
            before = int(page[-1]["id"])
        return messages, False


def _skipped(channel: Readable, message_id: int, error: Exception) -> None:
    log.warning(
        "catch-up of channel %s: message %s skipped, it could not be read (%s: %s)",
        channel.id,
        message_id,
        type(error).__name__,
        error,
    )
