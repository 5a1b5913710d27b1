"""Where the bot listens: the watched channels, their threads and forum posts.

A channel listed in CHANNEL_ID is watched, unless its server unwatched it with /setup; so is a
channel a server added with `/setup watch` (`services/servers/settings.py`). With
WATCH_THREADS, so is every thread whose parent is one of them (a public thread, a private one
the bot was let into, a post of a watched forum channel). A thread is a channel of its own
for everything else: its own beat, its own context, its messages stored under its id and the
guild's, so `/persona forget` and retention cover them like any other message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from services.store import MessageStore

# How many messages `forget_channel` reads at a time.
_FORGET_BATCH = 500


class ServerChannels(Protocol):
    """Each server's own choices, from memory (never the store: this runs per message)."""

    def watched_by(self, guild_id: int) -> frozenset[int]: ...

    def unwatched_by(self, guild_id: int) -> frozenset[int]: ...


@dataclass(frozen=True)
class WatchRule:
    channel_ids: frozenset[int]  # the operator's CHANNEL_ID
    guild_id: int | None  # None: any guild the bot is in
    threads: bool = True
    servers: ServerChannels | None = None

    def _listed(self, guild_id: int, channel_id: int) -> bool:
        if self.servers is None:
            return channel_id in self.channel_ids
        if channel_id in self.channel_ids:
            return channel_id not in self.servers.unwatched_by(guild_id)
        return channel_id in self.servers.watched_by(guild_id)

    def serves(self, guild_id: int | None) -> bool:
        """Whether the bot listens in this guild at all (None: a direct message)."""
        return guild_id is not None and (self.guild_id is None or guild_id == self.guild_id)

    def watches(self, guild_id: int | None, channel_id: int, parent_id: int | None = None) -> bool:
        """Whether a message of this channel (a thread: with its parent) is listened to."""
        if guild_id is None or not self.serves(guild_id):
            return False
        if self._listed(guild_id, channel_id):
            return True
        return self.threads and parent_id is not None and self._listed(guild_id, parent_id)


async def forget_channel(store: MessageStore, channel_id: int) -> int:
    """Remove every stored message of a channel or thread that is gone; returns how many.

    Through the ports every store has (its last messages, then one delete each, sent together
    so a durable store writes them in one batch)."""
    forgotten = 0
    while batch := await store.last_in_channel(channel_id, _FORGET_BATCH):
        deleted = await asyncio.gather(*(store.delete(m.message_id) for m in batch))
        forgotten += sum(deleted)
        if not any(deleted):  # nothing could be removed: do not loop on it
            break
    return forgotten
