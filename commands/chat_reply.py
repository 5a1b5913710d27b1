"""Answering a trigger: the decision, then the reply, posted so that it survives.

The first part of a reply answers the trigger (a message reference that must exist): if the
trigger was deleted meanwhile, the member removed what the reply answered and nothing is
posted; if the reply is refused for another reason (any 400: Discord names the reference in
its error, a Discord-compatible server may say anything), it goes out once more without it.
A mention the model could not answer gets, when the decision says so, one sentence in the
server's language saying that the bot could not answer right now. Every decision (and every
trigger skipped) is kept in `decisions`, bounded, for operators and tests.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from dataclasses import replace

import discord
from discord.ext import commands

from commands.chat_reading import ChatReader
from commands.i18n import text
from services.conversation.conversation import ConversationService, Decision, Notice
from services.conversation.reply_policy import Trigger
from services.privacy.privacy import PrivacyService

log = logging.getLogger(__name__)

_NO_PINGS = discord.AllowedMentions.none()
_BAD_REQUEST = 400


class _TriggerGone(Exception):
    """The message a reply answers was deleted before the reply went out."""


def _reference_refused(error: discord.HTTPException) -> bool:
    """A reply the server would not take as a reply. Discord says 400 Invalid Form Body with
    an error under `message_reference`; other servers say 400 in their own words, so any 400
    earns one more try without the reference (a body refused for itself fails again, once)."""
    return error.status == _BAD_REQUEST


class ChatReplies:
    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        reader: ChatReader,
        conversation: ConversationService,
        privacy: PrivacyService,
    ) -> None:
        self._bot = bot
        self._reader = reader
        self._conversation = conversation
        self._privacy = privacy
        # The latest decisions, bounded: what the bot did and why, for operators and tests.
        self.decisions: deque[Decision] = deque(maxlen=1000)

    def record(self, decision: Decision) -> None:
        self.decisions.append(decision)
        log.info("decision: %s", decision.describe())

    async def respond(self, message: discord.Message, trigger: Trigger) -> None:
        """Decide on `trigger` (whose context is stored), and post the reply if there is one."""
        trigger = await self._with_replied_message(message, trigger)
        me = self._bot.user
        bot_name = me.display_name if me else "bot"
        async with contextlib.AsyncExitStack() as typing:
            # "Bot is typing…" while Azure thinks; a failed indicator must not cost the reply.
            with contextlib.suppress(discord.HTTPException):
                await typing.enter_async_context(message.channel.typing())
            decision = await self._conversation.decide(trigger, bot_name=bot_name)
        self.record(decision)
        if decision.notice is not None:
            await self._tell(message, trigger, decision.notice)
            return
        sent: list[int] = []
        for index, part in enumerate(decision.parts):
            # The first part answers the trigger, unless its author opted out: then the bot
            # speaks to the channel, not to them.
            answering = index == 0 and trigger.answer_author
            try:
                reply = await self._send(message, part, answering=answering)
            except _TriggerGone:
                log.info("reply to %s not sent: the trigger was deleted", trigger.message_id)
                return
            except discord.HTTPException as error:
                log.warning("reply to %s not sent: %s", trigger.message_id, error)
                break
            sent.append(reply.id)
        if sent and trigger.answer_author:
            await self._privacy.note_replies(trigger.guild_id, trigger.author_id, sent)

    async def _tell(self, message: discord.Message, trigger: Trigger, notice: Notice) -> None:
        """One sentence instead of a reply (the bot could not answer right now, or rests for
        the day), in the server's language (a message carries no member locale): a reply to
        the mention, pinging nobody."""
        locale = message.guild.preferred_locale if message.guild is not None else None
        sentence = text(locale, f"chat.{notice}")
        try:
            await self._send(message, sentence, answering=trigger.answer_author)
        except _TriggerGone:
            log.info("no notice for %s: the trigger was deleted", trigger.message_id)
        except discord.HTTPException as error:
            log.warning("notice for %s not sent: %s", trigger.message_id, error)

    async def _send(
        self, message: discord.Message, part: str, *, answering: bool
    ) -> discord.Message:
        channel = message.channel
        # Every part without link previews: a preview is a second, larger place to mislead.
        if not answering:
            return await channel.send(part, allowed_mentions=_NO_PINGS, suppress_embeds=True)
        try:
            return await channel.send(
                part,
                reference=message.to_reference(fail_if_not_exists=True),
                allowed_mentions=_NO_PINGS,
                suppress_embeds=True,
            )
        except discord.HTTPException as error:
            if not _reference_refused(error):
                raise
            refused = error
        if await self._was_deleted(message):
            raise _TriggerGone
        log.info("reply to %s sent without its reference: %s", message.id, refused)
        return await channel.send(part, allowed_mentions=_NO_PINGS, suppress_embeds=True)

    @staticmethod
    async def _was_deleted(message: discord.Message) -> bool:
        try:
            await message.channel.fetch_message(message.id)
        except discord.NotFound:
            return True
        except discord.HTTPException:
            return False  # unknown: the reply is not lost for it
        return False

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
        return replace(trigger, replied_to=self._reader.as_replied(replied))
