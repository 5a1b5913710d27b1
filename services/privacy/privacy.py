"""Each member's control over their data: consent, opting out, forgetting, and retention.

Message content is personal data. A member can see what is kept (/persona), delete it
(forget: their messages, profile, the bot's replies to them, and the rows counting the tokens
spent for them), stop the bot from keeping anything (opt-out), and nothing is kept longer than
RETENTION_DAYS. With PROFILE_CONSENT=opt-in nobody is profiled until they ask for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from services.conversation.persona import Persona, PersonaService
from services.discord_ids import first_id_at
from services.servers.token_usage import TokenAccounting
from services.state import member_key, parse_member_key, versioned
from services.store import Document, MessageStore, StateKind, StateStore

log = logging.getLogger(__name__)

ConsentMode = Literal["opt-out", "opt-in"]
Choice = Literal["opted_out", "opted_in"]
# The bot's replies to one member that forget() deletes too; older ones expire by retention.
MAX_TRACKED_REPLIES = 1000


class PrivacyChoices:
    """The `privacy` documents: a member's choice (opted out or in) and when it was made."""

    KIND: StateKind = "privacy"
    VERSION = 1

    def __init__(self, state: StateStore) -> None:
        self._state = state

    @staticmethod
    def choice_in(document: Document) -> Choice | None:
        stored = document.get("choice")
        return stored if stored in ("opted_out", "opted_in") else None

    async def all(self) -> dict[tuple[int, int], Choice]:
        choices: dict[tuple[int, int], Choice] = {}
        for key, document in await self._state.state_items(self.KIND):
            member = parse_member_key(key)
            choice = self.choice_in(document)
            if member is not None and choice is not None:
                choices[member] = choice
        return choices

    async def put(self, guild_id: int, member_id: int, choice: Choice, at: float) -> None:
        document = versioned(self.VERSION, {"choice": choice, "at": at})
        await self._state.put_state(self.KIND, member_key(guild_id, member_id), document)

    async def delete(self, guild_id: int, member_id: int) -> None:
        await self._state.delete_state(self.KIND, member_key(guild_id, member_id))


class ReplyLog:
    """The `bot_replies` documents: ids of the bot's messages answering a member, newest last,
    at most MAX_TRACKED_REPLIES (older ones expire by retention anyway)."""

    KIND: StateKind = "bot_replies"
    VERSION = 1

    def __init__(self, state: StateStore) -> None:
        self._state = state

    async def add(self, guild_id: int, member_id: int, message_ids: list[int]) -> None:
        def append(document: Document | None) -> Document:
            known = list(document.get("ids", [])) if document else []
            ids = [*known, *message_ids][-MAX_TRACKED_REPLIES:]
            return versioned(self.VERSION, {"ids": ids})

        # One atomic update: two replies sent at once must not lose each other's ids.
        await self._state.update_state(self.KIND, member_key(guild_id, member_id), append)

    async def take(self, guild_id: int, member_id: int) -> list[int]:
        """The ids, removed from the log."""
        taken: list[int] = []

        def remove(document: Document | None) -> None:
            # Assigned, not appended: a store may run `change` again when it retries.
            taken[:] = [int(i) for i in document.get("ids", [])] if document else []

        await self._state.update_state(self.KIND, member_key(guild_id, member_id), remove)
        return taken

    async def expire(self, cutoff: datetime) -> int:
        """Drop the ids of replies sent before `cutoff` (a Discord id begins with its time),
        and the documents left empty; how many ids were dropped."""
        oldest_kept = first_id_at(cutoff)
        dropped = 0
        for key, document in await self._state.state_items(self.KIND):
            if any(int(i) < oldest_kept for i in document.get("ids", [])):
                dropped += await self._keep_since(key, oldest_kept)
        return dropped

    async def _keep_since(self, key: str, oldest_kept: int) -> int:
        removed = [0]

        def keep_recent(stored: Document | None) -> Document | None:
            ids = [int(i) for i in stored.get("ids", [])] if stored else []
            recent = [i for i in ids if i >= oldest_kept]
            removed[0] = len(ids) - len(recent)  # assigned: a store may run this again
            return versioned(self.VERSION, {"ids": recent}) if recent else None

        await self._state.update_state(self.KIND, key, keep_recent)
        return removed[0]


@dataclass(frozen=True)
class Forgotten:
    messages: int
    profile: bool


@dataclass(frozen=True)
class RetentionReport:
    messages: int
    profiles: int
    reply_ids: int = 0
    usage_rows: int = 0


class PrivacyService:
    def __init__(
        self,
        *,
        store: MessageStore,
        choices: PrivacyChoices,
        replies: ReplyLog,
        personas: PersonaService,
        usage: TokenAccounting,
        consent_mode: ConsentMode,
        retention: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._choice_documents = choices
        self._replies = replies
        self._personas = personas
        self._usage = usage
        self.consent_mode: ConsentMode = consent_mode
        self.retention = retention
        self._clock = clock
        # Read on every message, before it is stored: choices are few and change rarely, so
        # they are all in memory (from `load`), and reading one never waits.
        self._choices: dict[tuple[int, int], Choice] = {}
        personas.require_consent(self.may_profile)  # a build in flight re-checks before writing
        usage.require_consent(self.may_store)  # an opted-out member's calls count for the server

    async def load(self) -> None:
        """Read every member's choice; call once before the first message."""
        self._choices = await self._choice_documents.all()

    def choice(self, guild_id: int, member_id: int) -> Choice | None:
        return self._choices.get((guild_id, member_id))

    def may_store(self, guild_id: int, member_id: int) -> bool:
        return self.choice(guild_id, member_id) != "opted_out"

    def may_profile(self, guild_id: int, member_id: int) -> bool:
        choice = self.choice(guild_id, member_id)
        if self.consent_mode == "opt-in":
            return choice == "opted_in"
        return choice != "opted_out"

    async def persona_if_allowed(self, guild_id: int, member_id: int) -> Persona | None:
        """The member's persona, or None when they are not (or no longer) to be profiled."""
        if not self.may_profile(guild_id, member_id):
            return None
        return await self._personas.get(guild_id, member_id)

    async def stored_persona_if_allowed(self, guild_id: int, member_id: int) -> Persona | None:
        """The member's stored persona, never built here (no model call): for what must answer
        at once, like /temperature. None when there is none yet or they are not profiled."""
        if not self.may_profile(guild_id, member_id):
            return None
        return await self._personas.stored(guild_id, member_id)

    async def _set_choice(self, guild_id: int, member_id: int, choice: Choice | None) -> None:
        if choice is None:
            await self._choice_documents.delete(guild_id, member_id)
            self._choices.pop((guild_id, member_id), None)
        else:
            await self._choice_documents.put(guild_id, member_id, choice, self._clock().timestamp())
            self._choices[(guild_id, member_id)] = choice

    async def forget_guild_choices(self, guild_id: int) -> int:
        """Delete every member's choice in the guild (the bot left it); how many."""
        members = [m for g, m in await self._choice_documents.all() if g == guild_id]
        for member_id in members:
            await self._choice_documents.delete(guild_id, member_id)
        for member in [key for key in self._choices if key[0] == guild_id]:
            del self._choices[member]
        return len(members)

    async def forget_member_choices(self, member_id: int) -> int:
        """Delete the member's choices in every guild, the opt-out marks included (a deleted
        Discord account: nothing of it may stay); how many."""
        guilds = [g for g, m in await self._choice_documents.all() if m == member_id]
        for guild_id in guilds:
            await self._choice_documents.delete(guild_id, member_id)
            self._choices.pop((guild_id, member_id), None)
        return len(guilds)

    async def note_replies(self, guild_id: int, member_id: int, message_ids: list[int]) -> None:
        """Remember the bot's messages answering a member: they may quote the member, so
        forgetting the member deletes them too."""
        await self._replies.add(guild_id, member_id, message_ids)

    async def forget(
        self, guild_id: int, member_id: int, *, choice_after: Choice | None = None
    ) -> Forgotten:
        """Delete every stored message of the member in this guild, the bot's replies to
        them, their profile and their choices (`choice_after` replaces them): nothing of
        them is left in the data files. Their token counts go too: ids and counts, but about
        them."""
        messages = await self._store.forget_author(guild_id, member_id)
        # Up to MAX_TRACKED_REPLIES ids: one write for them all, not one each.
        await self._store.delete_many(await self._replies.take(guild_id, member_id))
        profile = await self._personas.stored(guild_id, member_id) is not None
        await self._personas.forget(guild_id, member_id)
        await self._usage.forget(guild_id, member_id)
        await self._set_choice(guild_id, member_id, choice_after)
        log.info("forgot member %s in guild %s (%d messages)", member_id, guild_id, messages)
        return Forgotten(messages=messages, profile=profile)

    async def opt_out(self, guild_id: int, member_id: int) -> Forgotten:
        # In memory first: from now on nothing of theirs is stored, no build starts, and a
        # build in flight drops its profile; the durable choice is written after the erasing.
        self._choices[(guild_id, member_id)] = "opted_out"
        return await self.forget(guild_id, member_id, choice_after="opted_out")

    async def opt_in(self, guild_id: int, member_id: int) -> None:
        await self._set_choice(guild_id, member_id, "opted_in")

    async def purge_expired(self) -> RetentionReport:
        """Delete messages older than the retention, the profiles left with no messages, the
        tracked ids of the bot's replies older than the retention, and the token counts of the
        days that ended before it."""
        cutoff = self._clock() - self.retention
        messages = await self._store.delete_older_than(cutoff)
        profiles = 0
        for guild_id, member_id in await self._personas.members():
            if not await self._store.last_by_author(guild_id, member_id, 1):
                await self._personas.forget(guild_id, member_id)
                profiles += 1
        reply_ids = await self._replies.expire(cutoff)
        usage_rows = await self._usage.expire(cutoff)
        if messages or profiles or reply_ids or usage_rows:
            log.info(
                "retention: deleted %d messages, %d profiles, %d tracked reply ids and %d "
                "token usage rows",
                messages,
                profiles,
                reply_ids,
                usage_rows,
            )
        return RetentionReport(
            messages=messages, profiles=profiles, reply_ids=reply_ids, usage_rows=usage_rows
        )
