"""The status line under the bot's name, looked at every five minutes and sent when it changes.

Every server the bot is in sees the same line, so it never shows one server's content (a
track's title, a private media server's file name): only how many servers hear music.

Discord keeps a presence for the session: a RESUME keeps it, a new session starts without
one, so the line is sent again at once after a new READY; unless the session before ended
right after a line (a server that refuses the update and closes), then it waits
(`services.presence_backoff`) instead of bringing about one reconnect per line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord
from discord.ext import commands, tasks

from services.presence_backoff import PresenceBackoff

log = logging.getLogger(__name__)

# How many servers hear music now.
PlayingCount = Callable[[], int]


class PresenceCog(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        channel_ids: frozenset[int],
        playing_count: PlayingCount,
        backoff: PresenceBackoff | None = None,
    ) -> None:
        self._bot = bot
        self._channel_ids = channel_ids
        self._playing_count = playing_count
        self._backoff = backoff or PresenceBackoff()
        self._shown: tuple[discord.ActivityType, str | None] | None = None  # what Discord has

    async def cog_load(self) -> None:
        self.refresh.start()

    async def cog_unload(self) -> None:
        self.refresh.cancel()

    def describe(self) -> discord.Activity:
        playing = self._playing_count()
        if playing:
            servers = "server" if playing == 1 else "servers"
            return discord.Activity(
                type=discord.ActivityType.listening, name=f"music in {playing} {servers}"
            )
        names = sorted(
            f"#{channel.name}"
            for channel_id in self._channel_ids
            if isinstance(channel := self._bot.get_channel(channel_id), discord.TextChannel)
        )
        if not names:
            return discord.Activity(type=discord.ActivityType.watching, name="the chat")
        shown = ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")
        return discord.Activity(type=discord.ActivityType.watching, name=shown)

    @commands.Cog.listener()
    async def on_connect(self) -> None:
        # READY: a new session, without the line (a RESUME keeps it and says `on_resumed`).
        if self._shown is not None:
            self._shown = None
            if self._backoff.may_send():
                self.refresh.restart()  # else a later tick sends it, once the wait is over

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        wait = self._backoff.session_ended()
        if wait is not None:
            log.warning(
                "the gateway session ended right after the presence line was sent: the "
                "next line waits %.0f s",
                wait,
            )

    @tasks.loop(minutes=5)
    async def refresh(self) -> None:
        activity = self.describe()
        line = (activity.type, activity.name)
        if line == self._shown or not self._backoff.may_send():
            return
        # Noted before it goes: the server may close the session before the send returns.
        self._backoff.sent()
        try:
            await self._bot.change_presence(activity=activity)
            self._shown = line
        except (OSError, discord.ConnectionClosed) as error:
            # The gateway is reconnecting: the next tick sets the line again.
            log.warning("presence line not refreshed (gateway reconnecting): %s", error)
        except Exception:
            # Whatever went wrong, the next tick tries again: the loop must not end.
            log.exception("could not refresh the presence line")

    @refresh.before_loop
    async def _wait_until_ready(self) -> None:
        await self._bot.wait_until_ready()
