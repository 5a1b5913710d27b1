"""Each member's control over their data: consent, opting out, forgetting, and retention.

Message content is personal data. A member can see what is kept (/persona), delete it
(forget), stop the bot from keeping anything (opt-out), and nothing is kept longer than
RETENTION_DAYS. With PROFILE_CONSENT=opt-in nobody is profiled until they ask for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from services.persona import PersonaService
from services.store import MessageStore, StateStore

log = logging.getLogger(__name__)

ConsentMode = Literal["opt-out", "opt-in"]
Choice = Literal["opted_out", "opted_in"]
_KIND = "privacy"
_REPLIES_KIND = "bot_replies"
# The bot's replies to one member that forget() deletes too; older ones expire by retention.
MAX_TRACKED_REPLIES = 1000


@dataclass(frozen=True)
class Forgotten:
    messages: int
    profile: bool


@dataclass(frozen=True)
class RetentionReport:
    messages: int
    profiles: int


class PrivacyService:
    def __init__(
        self,
        *,
        store: MessageStore,
        state: StateStore,
        personas: PersonaService,
        consent_mode: ConsentMode,
        retention: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._state = state
        self._personas = personas
        self.consent_mode: ConsentMode = consent_mode
        self.retention = retention
        self._clock = clock
        # Read on every message: choices are few and change rarely, so keep them in memory.
        self._choices: dict[tuple[int, int], Choice | None] = {}

    async def choice(self, guild_id: int, member_id: int) -> Choice | None:
        key = (guild_id, member_id)
        if key not in self._choices:
            document = await self._state.get_state(_KIND, f"{guild_id}:{member_id}") or {}
            stored = document.get("choice")
            self._choices[key] = stored if stored in ("opted_out", "opted_in") else None
        return self._choices[key]

    async def may_store(self, guild_id: int, member_id: int) -> bool:
        return await self.choice(guild_id, member_id) != "opted_out"

    async def may_profile(self, guild_id: int, member_id: int) -> bool:
        choice = await self.choice(guild_id, member_id)
        if self.consent_mode == "opt-in":
            return choice == "opted_in"
        return choice != "opted_out"

    async def _set_choice(self, guild_id: int, member_id: int, choice: Choice | None) -> None:
        key = f"{guild_id}:{member_id}"
        if choice is None:
            await self._state.delete_state(_KIND, key)
        else:
            at = self._clock().timestamp()
            await self._state.put_state(_KIND, key, {"choice": choice, "at": at})
        self._choices[(guild_id, member_id)] = choice

    async def note_replies(self, guild_id: int, member_id: int, message_ids: list[int]) -> None:
        """Remember the bot's messages answering a member: they may quote the member, so
        forgetting the member deletes them too."""
        key = f"{guild_id}:{member_id}"
        document = await self._state.get_state(_REPLIES_KIND, key) or {}
        ids = [*document.get("ids", []), *message_ids][-MAX_TRACKED_REPLIES:]
        await self._state.put_state(_REPLIES_KIND, key, {"ids": ids})

    async def forget(self, guild_id: int, member_id: int) -> Forgotten:
        """Delete every stored message of the member in this guild, the bot's replies to
        them, their profile and their choices: nothing of them is left in the data files."""
        messages = await self._store.forget_author(guild_id, member_id)
        replies = await self._state.get_state(_REPLIES_KIND, f"{guild_id}:{member_id}") or {}
        for reply_id in replies.get("ids", []):
            await self._store.delete(reply_id)
        await self._state.delete_state(_REPLIES_KIND, f"{guild_id}:{member_id}")
        profile = await self._personas.stored(guild_id, member_id) is not None
        await self._personas.forget(guild_id, member_id)
        await self._set_choice(guild_id, member_id, None)
        log.info("forgot member %s in guild %s (%d messages)", member_id, guild_id, messages)
        return Forgotten(messages=messages, profile=profile)

    async def opt_out(self, guild_id: int, member_id: int) -> Forgotten:
        forgotten = await self.forget(guild_id, member_id)
        await self._set_choice(guild_id, member_id, "opted_out")
        return forgotten

    async def opt_in(self, guild_id: int, member_id: int) -> None:
        await self._set_choice(guild_id, member_id, "opted_in")

    async def purge_expired(self) -> RetentionReport:
        """Delete messages older than the retention, and profiles left with no messages."""
        messages = await self._store.delete_older_than(self._clock() - self.retention)
        profiles = 0
        for guild_id, member_id in await self._personas.members():
            if not await self._store.last_by_author(guild_id, member_id, 1):
                await self._personas.forget(guild_id, member_id)
                profiles += 1
        if messages or profiles:
            log.info("retention: deleted %d messages and %d profiles", messages, profiles)
        return RetentionReport(messages=messages, profiles=profiles)
