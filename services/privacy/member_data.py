"""One member's data in every server: a copy for them (`/persona export`, GDPR Art. 15 and 20),
and its deletion for the operator (`python -m app forget-member`, a deleted Discord account).

The export holds what is stored about the member and nothing about anyone else: their own
messages (texts opened when the store seals them), their profile, their privacy choices, the
ids of the bot's replies to them and the tokens spent for them, with, for each kind, why it is
kept, who receives it and until when. Ids are strings (JavaScript cannot hold a snowflake in a
number). The file is JSON, gzipped when it would not fit in one Discord attachment.
"""

from __future__ import annotations

import gzip
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from services.conversation.persona import Persona, PersonaProfiles
from services.privacy.privacy import PrivacyChoices, ReplyLog
from services.state import member_key, parse_member_key
from services.store import LeaseStore, MessageStore, StateKind, StateStore, UsageStore

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # bump when a field changes meaning or goes; adding one does not
EXPORT_PAGE = 5_000  # messages read per store call
EXPORT_INTERVAL = timedelta(hours=1)
EXPORT_FILE = "discord-azure-bot-export"
_MEMBER_KINDS: tuple[StateKind, ...] = (PersonaProfiles.KIND, PrivacyChoices.KIND, ReplyLog.KIND)


class MemberStore(MessageStore, StateStore, UsageStore, Protocol):
    """The ports a member's data is spread over."""


@dataclass(frozen=True)
class ExportFile:
    filename: str
    data: bytes
    messages: int


@dataclass(frozen=True)
class ExportRefused:
    """Asked again within the hour: when it may be asked next."""

    retry_at: datetime


@dataclass(frozen=True)
class MemberErasure:
    """What `forget_everywhere` deleted, by kind."""

    messages: int
    bot_replies: int
    profiles: int
    choices: int
    usage_rows: int

    def lines(self) -> list[str]:
        return [
            f"messages: {self.messages}",
            f"bot replies to them: {self.bot_replies}",
            f"profiles: {self.profiles}",
            f"privacy choices (opt-out marks included): {self.choices}",
            f"token usage rows: {self.usage_rows}",
        ]


def _when(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _about(retention: timedelta, newest_message: datetime | None) -> dict[str, Any]:
    """Why each kind is kept, who receives it, and until when (Art. 15)."""
    days = retention.days
    last_day = _when(newest_message + retention) if newest_message is not None else None
    return {
        "messages": {
            "purpose": "context for the bot's replies in the same channel, and the source of "
            "your writing-style profile",
            "recipients": ["Azure OpenAI (the operator's deployment), as part of a reply's prompt"],
            "retention": f"each message is deleted {days} days after it was written, when you "
            "forget or opt out, or when the bot leaves the server",
            "kept_until": last_day,
        },
        "profile": {
            "purpose": "shapes the tone of the bot's replies to you; only you can see it",
            "recipients": ["Azure OpenAI, in the prompt of a reply to you"],
            "retention": "until none of your messages is left in the server, you forget or "
            "opt out, or the bot leaves the server",
            "kept_until": last_day,
        },
        "privacy_choice": {
            "purpose": "remembers that you opted out (nothing of yours is kept) or in",
            "recipients": [],
            "retention": "until you change it, the bot leaves the server, or the operator "
            "deletes your account's data",
            "kept_until": None,
        },
        "bot_reply_ids": {
            "purpose": "so that forgetting you deletes the bot's replies to you too",
            "recipients": [],
            "retention": f"{days} days after each reply",
            "kept_until": last_day,
        },
        "token_usage": {
            "purpose": "the cost of the model calls made for you, for the server's and the "
            "operator's budgets",
            "recipients": ["the operator", "the server's admins, as usage figures"],
            "retention": f"{days} days after the day it counts",
            "kept_until": None,
        },
        "beat_counts": {
            "purpose": "how often the bot speaks in a channel",
            "recipients": [],
            "retention": "kept per channel, never per member: nothing about you",
            "kept_until": None,
        },
    }


def _profile(persona: Persona) -> dict[str, Any]:
    document = PersonaProfiles.to_document(persona)
    document.pop("v", None)
    document["built_at"] = _when(persona.built_at)
    return document


class MemberData:
    def __init__(
        self,
        store: MemberStore,
        *,
        retention: timedelta,
        leases: LeaseStore | None = None,
        owner: str = "export",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._profiles = PersonaProfiles(store)
        self._choices = PrivacyChoices(store)
        self._replies = ReplyLog(store)
        self._retention = retention
        self._leases = leases
        self._owner = owner
        self._clock = clock
        self._export_owners: dict[int, str] = {}  # the owner of each member's export lease

    async def _documents(self, member_id: int) -> dict[StateKind, dict[int, dict[str, Any]]]:
        """The member's documents of each per-member kind, by guild."""
        found: dict[StateKind, dict[int, dict[str, Any]]] = {}
        for kind in _MEMBER_KINDS:
            for key, document in await self._store.state_items(kind):
                member = parse_member_key(key)
                if member is not None and member[1] == member_id:
                    found.setdefault(kind, {})[member[0]] = document
        return found

    async def may_export(self, member_id: int) -> ExportRefused | None:
        """Take this hour's export for the member (one per hour, across every process):
        None when it may go ahead, else when it may be asked next."""
        if self._leases is None:
            return None
        name = f"member-export:{member_id}"
        period = EXPORT_INTERVAL.total_seconds()
        # An owner per export: a renewal by the same owner would let the member in again.
        owner = f"{self._owner}:{uuid.uuid4().hex}"
        if await self._leases.try_acquire(name, owner, period):
            self._export_owners[member_id] = owner
            return None
        holder = await self._leases.lease_holder(name)
        wait = holder.seconds_left if holder is not None else 0.0
        return ExportRefused(retry_at=self._clock() + timedelta(seconds=wait))

    async def export_failed(self, member_id: int) -> None:
        """The export could not be delivered: the member may ask again at once."""
        owner = self._export_owners.pop(member_id, None)
        if self._leases is not None and owner is not None:
            await self._leases.release(f"member-export:{member_id}", owner)

    async def export(self, member_id: int, *, size_limit: int) -> ExportFile:
        """Everything stored about the member, as a JSON file (gzipped past `size_limit`)."""
        messages: list[dict[str, Any]] = []
        guilds: set[int] = set()
        newest: datetime | None = None
        after = 0
        while True:
            page = await self._store.messages_of_author(member_id, after=after, limit=EXPORT_PAGE)
            for stored in page:
                guilds.add(stored.guild_id)
                newest = stored.created_at if newest is None else max(newest, stored.created_at)
                messages.append(
                    {
                        "id": str(stored.message_id),
                        "guild_id": str(stored.guild_id),
                        "channel_id": str(stored.channel_id),
                        "created_at": _when(stored.created_at),
                        "edited_at": _when(stored.edited_at),
                        "author_name": stored.author_name,
                        "content": stored.content,
                        # Described, never the bytes: that is all the bot keeps of a file.
                        "attachments": [
                            {
                                "filename": a.filename,
                                "content_type": a.content_type,
                                "size": a.size,
                                "url": a.url,
                            }
                            for a in stored.attachments
                        ],
                    }
                )
            if len(page) < EXPORT_PAGE:
                break
            after = page[-1].message_id
        documents = await self._documents(member_id)
        usage = await self._store.usage_of_member(member_id)
        guilds.update(documents.get(PersonaProfiles.KIND, {}))
        guilds.update(documents.get(PrivacyChoices.KIND, {}))
        guilds.update(documents.get(ReplyLog.KIND, {}))
        guilds.update(row.guild_id for row in usage)
        servers = []
        for guild_id in sorted(guilds):
            profile_document = documents.get(PersonaProfiles.KIND, {}).get(guild_id)
            profile = None
            if profile_document is not None:
                profile = _profile(
                    PersonaProfiles.from_document(guild_id, member_id, profile_document)
                )
            choice_document = documents.get(PrivacyChoices.KIND, {}).get(guild_id)
            choice = None
            if choice_document is not None:
                at = choice_document.get("at")
                choice = {
                    "choice": PrivacyChoices.choice_in(choice_document),
                    "made_at": _when(datetime.fromtimestamp(at, UTC)) if at else None,
                }
            replies = documents.get(ReplyLog.KIND, {}).get(guild_id, {}).get("ids", [])
            servers.append(
                {
                    "guild_id": str(guild_id),
                    "messages": sum(m["guild_id"] == str(guild_id) for m in messages),
                    "profile": profile,
                    "privacy_choice": choice,
                    "bot_reply_ids": [str(i) for i in replies],
                    "token_usage": [
                        {
                            "day": row.day.isoformat(),
                            "channel_id": str(row.channel_id),
                            "kind": row.kind,
                            "prompt_tokens": row.prompt,
                            "completion_tokens": row.completion,
                            "cached_tokens": row.cached,
                            "calls": row.calls,
                        }
                        for row in usage
                        if row.guild_id == guild_id
                    ],
                }
            )
        exported = {
            "format": EXPORT_FORMAT,
            "generated_at": _when(self._clock()),
            "member_id": str(member_id),
            "about": _about(self._retention, newest),
            "servers": servers,
            "messages": messages,
        }
        data = json.dumps(exported, ensure_ascii=False, indent=1).encode()
        filename = f"{EXPORT_FILE}-{member_id}.json"
        if len(data) > size_limit:
            data, filename = gzip.compress(data, compresslevel=6), filename + ".gz"
        return ExportFile(filename=filename, data=data, messages=len(messages))

    async def forget_everywhere(self, member_id: int) -> MemberErasure:
        """Delete everything about the member in every server, the privacy choices (opt-out
        marks) included: for a deleted Discord account, or a request that reached the
        operator."""
        documents = await self._documents(member_id)
        bot_replies = 0
        for guild_id in documents.get(ReplyLog.KIND, {}):
            bot_replies += await self._store.delete_many(
                await self._replies.take(guild_id, member_id)
            )
        messages = await self._store.forget_author_everywhere(member_id)
        profiles = 0
        for guild_id in documents.get(PersonaProfiles.KIND, {}):
            profiles += await self._profiles.delete(guild_id, member_id)
        choices = 0
        for guild_id in documents.get(PrivacyChoices.KIND, {}):
            choices += await self._store.delete_state(
                PrivacyChoices.KIND, member_key(guild_id, member_id)
            )
        usage_rows = await self._store.forget_member_usage_everywhere(member_id)
        erased = MemberErasure(
            messages=messages,
            bot_replies=bot_replies,
            profiles=profiles,
            choices=choices,
            usage_rows=usage_rows,
        )
        log.info("forgot member %s in every server (%d messages)", member_id, messages)
        return erased
