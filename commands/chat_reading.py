"""Discord messages as the chat flow sees them: which ones are chat, and their plain facts.

Shared by the live listener (`commands/chat.py`) and the catch-up (`commands/catchup.py`), so
a message read back from the history is taken exactly like the same message arriving live.
"""

from __future__ import annotations

from typing import Any

import discord
from discord.ext import commands

from services.conversation.reply_policy import MessageFacts, RepliedMessage
from services.servers.watched_channels import WatchRule
from services.store import StoredAttachment, StoredMessage

# Ordinary messages and replies; joins, pins, boosts, "thread created" and other system
# messages are not chat.
_CHAT_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


def _named(content: str, attachments: list[discord.Attachment]) -> str:
    if content or not attachments:
        return content
    return "[" + ", ".join(a.filename for a in attachments) + "]"


def text_of(message: discord.Message) -> str:
    """The message as the chat sees it: an attachment-only message is named, not blank, and
    a forwarded one (message reference type 1) is the forwarded text, which Discord sends in
    `message_snapshots` with an empty `content`."""
    own = _named(message.content, message.attachments)
    if own:
        return own
    forwarded = (_named(s.content, s.attachments) for s in message.message_snapshots)
    return "\n".join(text for text in forwarded if text)


def attachments_of(message: discord.Message) -> tuple[StoredAttachment, ...]:
    """The files of the message (and of the messages it forwards), described: name, type,
    the size Discord declared and Discord's link, never their bytes."""
    files = [*message.attachments]
    for snapshot in message.message_snapshots:
        files.extend(snapshot.attachments)
    return tuple(
        StoredAttachment(filename=a.filename, content_type=a.content_type, size=a.size, url=a.url)
        for a in files
    )


def parent_of(channel: Any) -> int | None:
    """A thread's (or forum post's) parent channel; None for anything else."""
    return channel.parent_id if isinstance(channel, discord.Thread) else None


class ChatReader:
    def __init__(self, bot: commands.Bot | commands.AutoShardedBot, rule: WatchRule) -> None:
        self._bot = bot
        self.rule = rule

    def watches(self, channel: Any) -> bool:
        """Whether the bot listens in this channel or thread (a Discord object)."""
        guild = getattr(channel, "guild", None)
        return self.rule.watches(guild.id if guild else None, channel.id, parent_of(channel))

    def may_hold(self, guild_id: int | None, channel_id: int) -> bool:
        """For raw events, which name the channel by id: whether its messages may be stored.
        A thread the cache no longer holds (archived) may be a watched one: the store, which
        holds watched messages only, is the judge (an unknown id changes nothing)."""
        channel = self._bot.get_channel(channel_id)
        if channel is None:
            return self.rule.threads and self.rule.serves(guild_id)
        return self.rule.watches(guild_id, channel_id, parent_of(channel))

    def is_own(self, message: discord.Message) -> bool:
        return self._bot.user is not None and message.author.id == self._bot.user.id

    def facts(self, message: discord.Message) -> MessageFacts | None:
        """The message's facts, or None when it is not chat of a watched channel: not watched,
        a webhook, a system message, a direct message or another bot (the bot's own words
        are context for the conversation; other bots are noise)."""
        if message.guild is None or not self.watches(message.channel):
            return None
        if message.webhook_id is not None or message.type not in _CHAT_TYPES:
            return None
        if message.author.bot and not self.is_own(message):
            return None
        return MessageFacts(
            message=StoredMessage(
                message_id=message.id,
                guild_id=message.guild.id,
                channel_id=message.channel.id,
                author_id=message.author.id,
                author_name=message.author.display_name,
                content=text_of(message),
                created_at=message.created_at,
                from_bot=message.author.bot,
                edited_at=message.edited_at,
                attachments=attachments_of(message),
            ),
            addresses_bot=self._addresses_bot(message),
            replied_to=self._replied_to(message),
            parent_id=parent_of(message.channel),
        )

    def _replied_to(self, message: discord.Message) -> RepliedMessage | None:
        """The message this one replies to, as Discord sent it with the reply."""
        replied = message.reference.resolved if message.reference else None
        if not isinstance(replied, discord.Message):
            return None  # not a reply, not sent with it, or deleted
        return self.as_replied(replied)

    def as_replied(self, replied: discord.Message) -> RepliedMessage:
        return RepliedMessage(
            message_id=replied.id,
            author_id=replied.author.id,
            author_name=replied.author.display_name,
            content=text_of(replied),
            from_bot=self.is_own(replied),
        )

    def _addresses_bot(self, message: discord.Message) -> bool:
        me = self._bot.user
        if me is None:
            return False
        if any(user.id == me.id for user in message.mentions):
            return True
        replied = message.reference.resolved if message.reference else None
        return isinstance(replied, discord.Message) and replied.author.id == me.id
