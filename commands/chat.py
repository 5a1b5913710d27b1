"""The passive listener: stores what is said in the watched channels, and takes part in it.

Discord objects stop here: each message becomes a `StoredMessage` plus whether it addresses
the bot, and `ReplyPolicy.take` decides the rest.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from dataclasses import replace

import discord
from discord.ext import commands

from services.background import BackgroundTasks
from services.conversation import ConversationService, Decision
from services.privacy import PrivacyService
from services.reply_policy import MessageFacts, RepliedMessage, ReplyPolicy, Trigger
from services.store import MessageStore, StoredMessage

log = logging.getLogger(__name__)

# Ordinary messages and replies; joins, pins, boosts and other system messages are not chat.
_CHAT_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
_NO_PINGS = discord.AllowedMentions.none()


def _text_of(message: discord.Message) -> str:
    """The message as the chat sees it: an attachment-only message is named, not blank."""
    if message.content or not message.attachments:
        return message.content
    return "[" + ", ".join(a.filename for a in message.attachments) + "]"


class ChatCog(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        store: MessageStore,
        policy: ReplyPolicy,
        conversation: ConversationService,
        privacy: PrivacyService,
        tasks: BackgroundTasks,
        channel_ids: frozenset[int],
        guild_id: int | None,
    ) -> None:
        self._bot = bot
        self._store = store
        self._policy = policy
        self._conversation = conversation
        self._privacy = privacy
        self._tasks = tasks
        self._channel_ids = channel_ids
        self._guild_id = guild_id
        # The latest decisions, bounded: what the bot did and why, for operators and tests.
        self.decisions: deque[Decision] = deque(maxlen=1000)

    def _watches(self, guild_id: int | None, channel_id: int) -> bool:
        if guild_id is None:  # direct messages
            return False
        if self._guild_id is not None and guild_id != self._guild_id:
            return False
        return channel_id in self._channel_ids

    def _is_own(self, message: discord.Message) -> bool:
        return self._bot.user is not None and message.author.id == self._bot.user.id

    def _is_chat(self, message: discord.Message) -> bool:
        if message.guild is None or not self._watches(message.guild.id, message.channel.id):
            return False
        return message.webhook_id is None and message.type in _CHAT_TYPES

    def _replied_to(self, message: discord.Message) -> RepliedMessage | None:
        """The message this one replies to, as Discord sent it with the reply."""
        replied = message.reference.resolved if message.reference else None
        if not isinstance(replied, discord.Message):
            return None  # not a reply, not sent with it, or deleted
        return self._as_replied(replied)

    def _as_replied(self, replied: discord.Message) -> RepliedMessage:
        return RepliedMessage(
            message_id=replied.id,
            author_id=replied.author.id,
            author_name=replied.author.display_name,
            content=_text_of(replied),
            from_bot=self._is_own(replied),
        )

    def _addresses_bot(self, message: discord.Message) -> bool:
        me = self._bot.user
        if me is None:
            return False
        if any(user.id == me.id for user in message.mentions):
            return True
        replied = message.reference.resolved if message.reference else None
        return isinstance(replied, discord.Message) and replied.author.id == me.id

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not self._is_chat(message):
            return
        # The bot's own words are context for the conversation; other bots are noise.
        if message.author.bot and not self._is_own(message):
            return
        assert message.guild is not None
        facts = MessageFacts(
            message=StoredMessage(
                message_id=message.id,
                guild_id=message.guild.id,
                channel_id=message.channel.id,
                author_id=message.author.id,
                author_name=message.author.display_name,
                content=_text_of(message),
                created_at=message.created_at,
                from_bot=message.author.bot,
            ),
            addresses_bot=self._addresses_bot(message),
            replied_to=self._replied_to(message),
        )
        # No await before this call: the store counts messages in the order they arrive.
        step = await self._policy.take(facts)
        if isinstance(step, Trigger):
            # In the background: the listener must keep storing while Azure thinks.
            self._tasks.spawn(
                self._respond(message, step),
                "reply",
                guild=step.guild_id,
                channel=step.channel_id,
                message=step.message_id,
            )
        elif step.reason == "flooding":
            self._record(
                Decision(_flood_trigger(facts, step.count), "skipped", "the author is flooding")
            )

    async def _with_replied_message(self, message: discord.Message, trigger: Trigger) -> Trigger:
        """A reply whose message Discord did not send along: fetched once, for the prompt."""
        reference = message.reference
        if trigger.replied_to is not None or reference is None or reference.message_id is None:
            return trigger
        if reference.resolved is not None:  # sent along, and deleted since
            return trigger
        try:
            replied = await message.channel.fetch_message(reference.message_id)
        except discord.HTTPException:
            return trigger
        return replace(trigger, replied_to=self._as_replied(replied))

    def _record(self, decision: Decision) -> None:
        self.decisions.append(decision)
        log.info("decision: %s", decision.describe())

    async def _respond(self, message: discord.Message, trigger: Trigger) -> None:
        # The trigger's add has returned, so its context (every earlier message) is stored.
        trigger = await self._with_replied_message(message, trigger)
        me = self._bot.user
        bot_name = me.display_name if me else "bot"
        async with contextlib.AsyncExitStack() as typing:
            # "Bot is typing…" while Azure thinks; a failed indicator must not cost the reply.
            with contextlib.suppress(discord.HTTPException):
                await typing.enter_async_context(message.channel.typing())
            decision = await self._conversation.decide(trigger, bot_name=bot_name)
        self._record(decision)
        # The first part answers the trigger (still sent if it was deleted meanwhile), unless
        # its author opted out: then the bot speaks to the channel, not to them.
        reference = message.to_reference(fail_if_not_exists=False)
        sent: list[int] = []
        for index, part in enumerate(decision.parts):
            try:
                if index == 0 and trigger.answer_author:
                    reply = await message.channel.send(
                        part, reference=reference, allowed_mentions=_NO_PINGS
                    )
                else:
                    reply = await message.channel.send(part, allowed_mentions=_NO_PINGS)
            except discord.HTTPException as error:
                log.warning("reply to %s not sent: %s", trigger.message_id, error)
                break
            sent.append(reply.id)
        if sent and trigger.answer_author:
            await self._privacy.note_replies(trigger.guild_id, trigger.author_id, sent)

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
