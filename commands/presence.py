"""The status line under the bot's name, refreshed every five minutes."""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord
from discord.ext import commands, tasks

log = logging.getLogger(__name__)

# Returns the text of the line, or None to keep the default one.
StatusSource = Callable[[], str | None]


class Presence(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        channel_ids: frozenset[int],
        now_playing: StatusSource,
    ) -> None:
        self._bot = bot
        self._channel_ids = channel_ids
        self._now_playing = now_playing

    async def cog_load(self) -> None:
        self.refresh.start()

    async def cog_unload(self) -> None:
        self.refresh.cancel()

    def describe(self) -> discord.Activity:
        track = self._now_playing()
        if track:
            return discord.Activity(type=discord.ActivityType.listening, name=track)
        names = sorted(
            f"#{channel.name}"
            for channel_id in self._channel_ids
            if isinstance(channel := self._bot.get_channel(channel_id), discord.TextChannel)
        )
        if not names:
            return discord.Activity(type=discord.ActivityType.watching, name="the chat")
        shown = ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")
        return discord.Activity(type=discord.ActivityType.watching, name=shown)

    @tasks.loop(minutes=5)
    async def refresh(self) -> None:
        try:
            await self._bot.change_presence(activity=self.describe())
        except (OSError, discord.ConnectionClosed) as error:
            # The gateway is reconnecting: the next tick sets the line again.
            log.warning("presence line not refreshed (gateway reconnecting): %s", error)
        except Exception:
            # Whatever went wrong, the next tick tries again: the loop must not end.
            log.exception("could not refresh the presence line")

    @refresh.before_loop
    async def _wait_until_ready(self) -> None:
        await self._bot.wait_until_ready()
