"""The passive listener: stores what is said in the watched channels, and takes part in it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque

import discord
from discord.ext import commands

from services.conversation import ConversationService, Decision, Reason, Trigger
from services.cooldown import Cooldown
from services.privacy import PrivacyService
from services.reply_policy import Beat, FloodGuard, ReplyPolicy
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


class ChatListener(commands.Cog):
    def __init__(
        self,
        bot: commands.Bot,
        *,
        store: MessageStore,
        policy: ReplyPolicy,
        conversation: ConversationService,
        mention_cooldown: Cooldown,
        flood: FloodGuard,
        privacy: PrivacyService,
        channel_ids: frozenset[int],
        guild_id: int | None,
    ) -> None:
        self._bot = bot
        self._store = store
        self._policy = policy
        self._conversation = conversation
        self._mention_cooldown = mention_cooldown
        self._privacy = privacy
        self._flood = flood
        self._channel_ids = channel_ids
        self._guild_id = guild_id
        self._replies: set[asyncio.Task[None]] = set()
        # Per channel, the messages still being stored (each resolves once it is durable).
        self._storing: defaultdict[int, set[asyncio.Future[None]]] = defaultdict(set)
        # The latest decisions, bounded: what the bot did and why, for operators and tests.
        self.decisions: deque[Decision] = deque(maxlen=1000)

    async def cog_load(self) -> None:
        await self._policy.load(self._channel_ids)

    async def cog_unload(self) -> None:
        for task in self._replies:
            task.cancel()
        await asyncio.gather(*self._replies, return_exceptions=True)

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
        # Before the first await: arrival order decides the place in the count.
        beat = None if message.author.bot else self._policy.count(message.channel.id)
        earlier, stored = await self._store_in_arrival_order(message)
        if beat is None:
            return
        # An opted-out member still counts toward the beat, but is never quoted or answered.
        await self._policy.save(message.channel.id)
        assert message.guild is not None
        self._flood.note(message.guild.id, message.author.id)
        trigger = self._trigger_for(message, beat, addressable=stored)
        if trigger is None:
            return
        if trigger.reason == "beat" and not self._flood.admits(trigger.guild_id, trigger.author_id):
            self._record(Decision(trigger, "skipped", "the author is flooding the channel"))
            return
        # Answer in the background: the listener must keep storing while Azure thinks.
        task = asyncio.create_task(
            self._respond(message, trigger, answer_author=stored, after=earlier)
        )
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _store_in_arrival_order(
        self, message: discord.Message
    ) -> tuple[list[asyncio.Future[None]], bool]:
        """Store the message unless its author opted out. Returns the messages of the channel
        that were still being stored when it arrived (a trigger's context waits for them)
        and whether it was stored."""
        assert message.guild is not None
        in_flight = self._storing[message.channel.id]
        earlier = list(in_flight)
        storing = asyncio.get_running_loop().create_future()
        in_flight.add(storing)
        try:
            stored = message.author.bot or await self._privacy.may_store(
                message.guild.id, message.author.id
            )
            if stored:
                await self._store.add(
                    StoredMessage(
                        message_id=message.id,
                        guild_id=message.guild.id,
                        channel_id=message.channel.id,
                        author_id=message.author.id,
                        author_name=message.author.display_name,
                        content=_text_of(message),
                        created_at=message.created_at,
                        from_bot=message.author.bot,
                    )
                )
        finally:
            storing.set_result(None)
            in_flight.discard(storing)
        return earlier, stored

    def _trigger_for(
        self, message: discord.Message, beat: Beat, *, addressable: bool
    ) -> Trigger | None:
        assert message.guild is not None
        reason: Reason
        if (
            addressable
            and self._addresses_bot(message)
            and self._mention_cooldown.try_acquire((message.guild.id, message.author.id))
        ):
            reason = "mention"
        elif beat.triggers:
            reason = "beat"
        else:
            return None
        return Trigger(
            guild_id=message.guild.id,
            channel_id=message.channel.id,
            message_id=message.id,
            author_id=message.author.id,
            reason=reason,
            count=beat.count,
        )

    def _record(self, decision: Decision) -> None:
        self.decisions.append(decision)
        log.info("decision: %s", decision.describe())

    async def _respond(
        self,
        message: discord.Message,
        trigger: Trigger,
        *,
        answer_author: bool,
        after: list[asyncio.Future[None]],
    ) -> None:
        await asyncio.gather(*after)  # the context must hold every message that came before
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
                if index == 0 and answer_author:
                    reply = await message.channel.send(
                        part, reference=reference, allowed_mentions=_NO_PINGS
                    )
                else:
                    reply = await message.channel.send(part, allowed_mentions=_NO_PINGS)
            except discord.HTTPException as error:
                log.warning("reply to %s not sent: %s", trigger.message_id, error)
                break
            sent.append(reply.id)
        if sent and answer_author:
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
