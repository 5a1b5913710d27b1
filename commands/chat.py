"""The passive listener: stores what is said in the watched channels."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from services.store import MessageStore, StoredMessage

log = logging.getLogger(__name__)

# Ordinary messages and replies; joins, pins, boosts and other system messages are not chat.
_CHAT_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


class ChatListener(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot,
        *,
        store: MessageStore,
        channel_ids: frozenset[int],
        guild_id: int | None,
    ) -> None:
        self._bot = bot
        self._store = store
        self._channel_ids = channel_ids
        self._guild_id = guild_id

    def _watches(self, guild_id: int | None, channel_id: int) -> bool:
        if guild_id is None:  # direct messages
            return False
        if self._guild_id is not None and guild_id != self._guild_id:
            return False
        return channel_id in self._channel_ids

    def _is_storable(self, message: discord.Message) -> bool:
        if message.guild is None or not self._watches(message.guild.id, message.channel.id):
            return False
        if message.webhook_id is not None or message.type not in _CHAT_TYPES:
            return False
        if message.author.bot:
            # The bot's own words are context for the conversation; other bots are noise.
            return self._bot.user is not None and message.author.id == self._bot.user.id
        return True

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not self._is_storable(message):
            return
        assert message.guild is not None
        await self._store.add(
            StoredMessage(
                message_id=message.id,
                guild_id=message.guild.id,
                channel_id=message.channel.id,
                author_id=message.author.id,
                author_name=message.author.display_name,
                content=message.content,
                created_at=message.created_at,
                from_bot=message.author.bot,
            )
        )

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if not self._watches(payload.guild_id, payload.channel_id):
            return
        edited_at = payload.message.edited_at
        if edited_at is None:  # an embed resolving or a pin, not an edit by the author
            return
        await self._store.edit(payload.message_id, payload.message.content, edited_at)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if self._watches(payload.guild_id, payload.channel_id):
            await self._store.delete(payload.message_id)

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if self._watches(payload.guild_id, payload.channel_id):
            for message_id in payload.message_ids:
                await self._store.delete(message_id)
