"""Where the bot listens: the watched channels, their threads and forum posts.

A channel listed in CHANNEL_ID is watched; with WATCH_THREADS, so is every thread whose parent
is one of them (a public thread, a private one the bot was let into, a post of a watched
forum channel). A thread is a channel of its own for everything else: its own beat, its own
context, its messages stored under its id and the guild's, so `/persona forget` and retention
cover them like any other message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services.store import MessageStore

# How many messages `forget_channel` reads at a time.
_FORGET_BATCH = 500


@dataclass(frozen=True)
class WatchRule:
    channel_ids: frozenset[int]
    guild_id: int | None  # None: any guild the bot is in
    threads: bool = True

    def serves(self, guild_id: int | None) -> bool:
        """Whether the bot listens in this guild at all (None: a direct message)."""
        return guild_id is not None and (self.guild_id is None or guild_id == self.guild_id)

    def watches(self, guild_id: int | None, channel_id: int, parent_id: int | None = None) -> bool:
        """Whether a message of this channel (a thread: with its parent) is listened to."""
        if not self.serves(guild_id):
            return False
        if channel_id in self.channel_ids:
            return True
        return self.threads and parent_id is not None and parent_id in self.channel_ids


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
