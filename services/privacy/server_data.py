"""A server's data: deleted now when its admins ask (`/setup forget-server`), and all of it once
the bot has left the server for longer than SERVER_DATA_GRACE_HOURS.

Leaving is not always final (an admin may add the bot back), so a removal schedules the
deletion: a `server_departure` document per server, in the store, holding when it is due. A
re-add within the grace cancels it; a restart keeps it. Each process deletes the due servers
of its own (the store is shared), and a `server-deletion:<guild>` lease makes sure one process
does each, once: a second one finds the lease taken, or the document gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from services.conversation.persona import PersonaService
from services.privacy.privacy import PrivacyService, ReplyLog
from services.servers.settings import ServerSettings
from services.state import parse_member_key, versioned
from services.store import (
    Document,
    LeaseStore,
    MessageStore,
    StateKind,
    StateStore,
    UsageStore,
)
from services.voice.music_queue import MusicQueues

log = logging.getLogger(__name__)

DELETION_LEASE_SECONDS = 15 * 60.0  # longer than any deletion takes; expires if its process dies


class ServerStore(MessageStore, StateStore, UsageStore, Protocol):
    """The ports a server's deletion reaches into."""


@dataclass(frozen=True)
class ServerErasure:
    """What was deleted of one server, by kind."""

    messages: int
    profiles: int
    reply_logs: int
    usage_rows: int
    choices: int = 0
    settings: bool = False
    queue: bool = False


@dataclass(frozen=True)
class Departure:
    """A server the bot left: its data goes at `due_at`, unless the bot is added back."""

    guild_id: int
    left_at: datetime
    due_at: datetime


class ServerData:
    """Deletes what is stored for one server, in the store and in this process's memory."""

    def __init__(
        self,
        *,
        store: ServerStore,
        privacy: PrivacyService,
        personas: PersonaService,
        servers: ServerSettings,
        music_queues: MusicQueues,
    ) -> None:
        self._store = store
        self._privacy = privacy
        self._personas = personas
        self._servers = servers
        self._queues = music_queues

    async def _member_keys(self, kind: StateKind, guild_id: int) -> list[str]:
        return [
            key
            for key, _ in await self._store.state_items(kind)
            if (member := parse_member_key(key)) is not None and member[0] == guild_id
        ]

    async def forget_content(self, guild_id: int) -> ServerErasure:
        """The server's messages, profiles, the bot's reply ids and its token counts: what its
        admins may delete while the bot stays. Settings and members' choices stay (an
        opted-out member stays opted out)."""
        return await self._forget_content(guild_id, channel_ids=())

    async def _forget_content(
        self, guild_id: int, channel_ids: frozenset[int] | tuple[()]
    ) -> ServerErasure:
        messages = await self._store.forget_guild(guild_id, channel_ids)
        profiles = 0
        for profiled_guild, member_id in await self._personas.members():
            if profiled_guild == guild_id:
                await self._personas.forget(guild_id, member_id)
                profiles += 1
        reply_logs = 0
        for key in await self._member_keys(ReplyLog.KIND, guild_id):
            reply_logs += await self._store.delete_state(ReplyLog.KIND, key)
        usage_rows = await self._store.forget_guild_usage(guild_id)
        return ServerErasure(
            messages=messages, profiles=profiles, reply_logs=reply_logs, usage_rows=usage_rows
        )

    async def forget_everything(self, guild_id: int) -> ServerErasure:
        """Everything stored for the server: its content (above), the beat counts of its
        channels (those of its messages and those its settings name), its members' choices,
        its settings and its music queue."""
        chosen = self._servers.choices(guild_id)
        content = await self._forget_content(guild_id, chosen.watched | chosen.unwatched)
        choices = await self._privacy.forget_guild_choices(guild_id)
        queue = await self._queues.clear(guild_id) > 0
        settings = await self._servers.forget(guild_id)
        return replace(content, choices=choices, settings=settings, queue=queue)

    async def guilds_with_data(self) -> set[int]:
        """Every server of which something is stored: messages, token counts, members'
        documents or server documents."""
        guilds = await self._store.guilds_with_messages() | await self._store.guilds_with_usage()
        member_kinds: tuple[StateKind, ...] = ("persona", "privacy", "bot_replies")
        server_kinds: tuple[StateKind, ...] = ("guild_settings", "music_queue")
        for kind in member_kinds:
            for key, _ in await self._store.state_items(kind):
                if (member := parse_member_key(key)) is not None:
                    guilds.add(member[0])
        for kind in server_kinds:
            guilds.update(
                int(key) for key, _ in await self._store.state_items(kind) if key.isdigit()
            )
        return guilds


class DepartureLog:
    """The `server_departure` documents, one per server the bot left, by guild id."""

    KIND: StateKind = "server_departure"
    VERSION = 1

    def __init__(self, state: StateStore) -> None:
        self._state = state

    @staticmethod
    def _departure(key: str, document: Document) -> Departure | None:
        try:
            return Departure(
                guild_id=int(key),
                left_at=datetime.fromtimestamp(float(document["left_at"]), UTC),
                due_at=datetime.fromtimestamp(float(document["due_at"]), UTC),
            )
        except (KeyError, TypeError, ValueError):
            return None

    async def get(self, guild_id: int) -> Departure | None:
        document = await self._state.get_state(self.KIND, str(guild_id))
        return self._departure(str(guild_id), document) if document is not None else None

    async def add(self, departure: Departure) -> Departure:
        """Record the departure, unless one is recorded already (kept: the first removal
        starts the grace); returns the one recorded."""

        def keep_first(stored: Document | None) -> Document:
            if stored is not None and self._departure(str(departure.guild_id), stored):
                return stored
            return versioned(
                self.VERSION,
                {"left_at": departure.left_at.timestamp(), "due_at": departure.due_at.timestamp()},
            )

        kept = await self._state.update_state(self.KIND, str(departure.guild_id), keep_first)
        assert kept is not None
        return self._departure(str(departure.guild_id), kept) or departure

    async def remove(self, guild_id: int) -> bool:
        return await self._state.delete_state(self.KIND, str(guild_id))

    async def all(self) -> list[Departure]:
        return [
            departure
            for key, document in await self._state.state_items(self.KIND)
            if (departure := self._departure(key, document)) is not None
        ]


class ServerDepartures:
    """Schedules, cancels and carries out the deletion of the servers the bot left."""

    def __init__(
        self,
        *,
        data: ServerData,
        log_of_departures: DepartureLog,
        leases: LeaseStore,
        owner: str,
        grace: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._data = data
        self._departures = log_of_departures
        self._leases = leases
        self._owner = owner
        self.grace = grace
        self._clock = clock

    async def schedule(self, guild_id: int, why: str) -> Departure:
        """The bot left the server (`why`: how that was learnt): its data goes after the grace."""
        now = self._clock()
        departure = await self._departures.add(
            Departure(guild_id=guild_id, left_at=now, due_at=now + self.grace)
        )
        log.info(
            "server data: deletion of guild %s scheduled for %s (%s)",
            guild_id,
            departure.due_at.isoformat(timespec="seconds"),
            why,
        )
        return departure

    async def cancel(self, guild_id: int) -> bool:
        """The bot is in the server again: its data stays. True when a deletion was pending."""
        cancelled = await self._departures.remove(guild_id)
        if cancelled:
            log.info("server data: deletion of guild %s cancelled (the bot is back)", guild_id)
        return cancelled

    async def pending(self) -> list[Departure]:
        return await self._departures.all()

    async def run_due(self, owned: Callable[[int], bool] = lambda _guild: True) -> list[int]:
        """Delete every server whose grace is over (of those `owned` says this process
        handles); returns their ids. Each is deleted by one process, once."""
        done = []
        now = self._clock()
        for departure in await self._departures.all():
            if departure.due_at > now or not owned(departure.guild_id):
                continue
            if await self._delete(departure.guild_id):
                done.append(departure.guild_id)
        return done

    async def _delete(self, guild_id: int) -> bool:
        lease = f"server-deletion:{guild_id}"
        if not await self._leases.try_acquire(lease, self._owner, DELETION_LEASE_SECONDS):
            return False  # another process is deleting it
        try:
            current = await self._departures.get(guild_id)
            if current is None or current.due_at > self._clock():
                return False  # cancelled, or done, meanwhile
            erased = await self._data.forget_everything(guild_id)
            await self._departures.remove(guild_id)
        finally:
            await self._leases.release(lease, self._owner)
        log.info(
            "server data: guild %s deleted (%d messages, %d profiles, %d choices, %d token "
            "usage rows, settings %s, queue %s)",
            guild_id,
            erased.messages,
            erased.profiles,
            erased.choices,
            erased.usage_rows,
            "yes" if erased.settings else "none",
            "yes" if erased.queue else "none",
        )
        return True

    async def missing_guilds(
        self, present: Collection[int], owned: Callable[[int], bool]
    ) -> list[int]:
        """The servers of which data is held, on the shards `owned` says are this process's,
        that Discord did not list (`present`), and that are not already scheduled: to confirm
        over REST before scheduling."""
        scheduled = {d.guild_id for d in await self._departures.all()}
        held = await self._data.guilds_with_data()
        return sorted(g for g in held if g not in present and g not in scheduled and owned(g))
