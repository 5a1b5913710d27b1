"""The in-memory index of the message log: where each message is, never what it says.

Only `MessageLog` uses it: slots are the log's business, and the store above asks the log
in message terms.

One slot per stored message version, kept in columns (`array`), so a million messages cost
tens of megabytes instead of a million Python objects. Per-channel and per-member lists of
live slots, sorted by message id, answer the hot queries (last N of a channel, last N of a
member) without a scan; a sorted id array finds a message for an edit or a delete. A slot
that is deleted or replaced is marked dead and leaves the lists at once; its column entries
stay until `reclaim` renumbers the live slots densely and drops everything dead.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import accumulate, compress
from typing import Any

DEAD = -1
_OFFSET_BITS = 40  # a location packs (segment number, byte offset) into one int64


def pack_location(segment: int, offset: int) -> int:
    return (segment << _OFFSET_BITS) | offset


def unpack_location(location: int) -> tuple[int, int]:
    return location >> _OFFSET_BITS, location & ((1 << _OFFSET_BITS) - 1)


ERASED = (0, 0)  # the (guild, author) key of a member whose messages are all gone


class MessageIndex:
    def __init__(self) -> None:
        # Columns, one entry per slot.
        self._ids = array("q")
        self._locations = array("q")  # pack_location(...) or DEAD
        self._sizes = array("I")  # bytes of the record line
        self._created = array("d")  # POSIX timestamps
        self._channel_of = array("I")  # number into channel_ids
        self._author_of = array("I")  # number into author_keys
        self._channel_ids: list[int] = []
        self._author_keys: list[tuple[int, int]] = []  # (guild, author)
        self._channel_numbers: dict[int, int] = {}
        self._author_numbers: dict[tuple[int, int], int] = {}
        # Live slots per channel and per member, ascending message id.
        self._channel_slots: list[array[int]] = []
        self._author_slots: list[array[int]] = []
        # Every id ever stored, ascending, with its newest slot (which may be dead).
        self._sorted_ids = array("q")
        self._sorted_slots = array("q")

    def __len__(self) -> int:
        return len(self._ids)

    def dead_slots(self) -> int:
        return len(self._ids) - sum(map(len, self._author_slots))  # a live slot has one member

    def has_members_without_messages(self) -> bool:
        return not all(self._author_slots)

    # -- lookups --------------------------------------------------------------------------

    def live_slot(self, message_id: int) -> int | None:
        position = bisect_left(self._sorted_ids, message_id)
        if position < len(self._sorted_ids) and self._sorted_ids[position] == message_id:
            slot = self._sorted_slots[position]
            if self._locations[slot] != DEAD:
                return slot
        return None

    def last_of_channel(self, channel_id: int, limit: int, up_to: int | None = None) -> list[int]:
        number = self._channel_numbers.get(channel_id)
        if number is None or limit <= 0:
            return []
        slots = self._channel_slots[number]
        end = len(slots) if up_to is None else bisect_right(slots, up_to, key=self._ids.__getitem__)
        return list(slots[max(0, end - limit) : end])

    def last_of_author(self, guild_id: int, author_id: int, limit: int) -> list[int]:
        number = self._author_numbers.get((guild_id, author_id))
        if number is None or limit <= 0:
            return []
        return list(self._author_slots[number][-limit:])

    def live_ids(self, after: int | None = None) -> array[int]:
        """The ids of the live messages above `after` (all of them without it), ascending."""
        start = 0 if after is None else bisect_right(self._sorted_ids, after)
        live = map(DEAD.__ne__, map(self._locations.__getitem__, self._sorted_slots[start:]))
        return array("q", compress(self._sorted_ids[start:], live))

    def where(self, slot: int) -> tuple[int, int]:
        """The (location, size) of a slot's record."""
        return self._locations[slot], self._sizes[slot]

    def live_records(self, first: int, end: int) -> list[tuple[int, int, int]]:
        """(location, size, slot) of the live slots in [first, end): a segment's records."""
        locations, sizes = self._locations, self._sizes
        return [
            (locations[slot], sizes[slot], slot)
            for slot in range(first, end)
            if locations[slot] != DEAD
        ]

    # -- changes --------------------------------------------------------------------------

    def put(
        self,
        message_id: int,
        *,
        guild_id: int,
        channel_id: int,
        author_id: int,
        created: float,
        location: int,
        size: int,
    ) -> tuple[int, int] | None:
        """Index a new version of a message; returns the (location, size) of the version it
        replaced, if any."""
        replaced = self.live_slot(message_id)
        previous = None
        if replaced is not None:
            previous = self.where(replaced)  # before `kill` marks it dead
            self.kill(replaced)
        channel = self._channel_number(channel_id)
        author = self._author_number(guild_id, author_id)
        slot = len(self._ids)
        self._ids.append(message_id)
        self._locations.append(location)
        self._sizes.append(size)
        self._created.append(created)
        self._channel_of.append(channel)
        self._author_of.append(author)
        position = bisect_left(self._sorted_ids, message_id)
        if position < len(self._sorted_ids) and self._sorted_ids[position] == message_id:
            self._sorted_slots[position] = slot
        else:
            self._sorted_ids.insert(position, message_id)
            self._sorted_slots.insert(position, slot)
        self._insert_by_id(self._channel_slots[channel], slot)
        self._insert_by_id(self._author_slots[author], slot)
        return previous

    def kill(self, slot: int) -> None:
        self._locations[slot] = DEAD
        self._remove_by_id(self._channel_slots[self._channel_of[slot]], slot)
        self._remove_by_id(self._author_slots[self._author_of[slot]], slot)

    def kill_author(self, guild_id: int, author_id: int) -> list[tuple[int, int]]:
        """Kill every live message of a member; returns their (location, size)."""
        number = self._author_numbers.get((guild_id, author_id))
        if number is None:
            return []
        slots = self._author_slots[number]
        killed = self._mark_dead(slots)
        self._author_slots[number] = array("q")
        for channel in {self._channel_of[slot] for slot in slots}:
            self._channel_slots[channel] = self._live(self._channel_slots[channel])
        return killed

    def kill_older_than(self, cutoff: float) -> list[tuple[int, int]]:
        """Kill every live message created before `cutoff`; returns their (location, size)."""
        created, locations = self._created, self._locations
        old = [s for s in range(len(self._ids)) if locations[s] != DEAD and created[s] < cutoff]
        killed = self._mark_dead(old)
        if killed:
            self._channel_slots = [self._live(slots) for slots in self._channel_slots]
            self._author_slots = [self._live(slots) for slots in self._author_slots]
        return killed

    def _mark_dead(self, slots: Iterable[int]) -> list[tuple[int, int]]:
        locations, sizes = self._locations, self._sizes
        killed = [(locations[slot], sizes[slot]) for slot in slots]
        for slot in slots:
            locations[slot] = DEAD
        return killed

    def move(self, slot: int, old_location: int, new_location: int) -> bool:
        """Point a slot at a compacted copy of its record, unless it died meanwhile."""
        if self._locations[slot] != old_location:
            return False
        self._locations[slot] = new_location
        return True

    def _channel_number(self, channel_id: int) -> int:
        number = self._channel_numbers.get(channel_id)
        if number is None:
            number = self._channel_numbers[channel_id] = len(self._channel_ids)
            self._channel_ids.append(channel_id)
            self._channel_slots.append(array("q"))
        return number

    def _author_number(self, guild_id: int, author_id: int) -> int:
        key = (guild_id, author_id)
        number = self._author_numbers.get(key)
        if number is None:
            number = self._author_numbers[key] = len(self._author_keys)
            self._author_keys.append(key)
            self._author_slots.append(array("q"))
        return number

    def _insert_by_id(self, slots: array[int], slot: int) -> None:
        message_id = self._ids[slot]
        if not slots or self._ids[slots[-1]] < message_id:
            slots.append(slot)  # the usual case: Discord ids grow with time
        else:
            slots.insert(bisect_left(slots, message_id, key=self._ids.__getitem__), slot)

    def _remove_by_id(self, slots: array[int], slot: int) -> None:
        position = bisect_left(slots, self._ids[slot], key=self._ids.__getitem__)
        if position < len(slots) and slots[position] == slot:
            del slots[position]

    def _live(self, slots: array[int]) -> array[int]:
        locations = self._locations
        return array("q", [slot for slot in slots if locations[slot] != DEAD])

    def reclaim(self) -> array[int]:
        """Renumber the live slots densely, keeping their order, and drop the dead slots, the
        ids with no live version, and the channels and members with no live message.

        Returns the rank of every old slot (and of the end): how many live slots came before
        it, which is a live slot's new number. Slot numbers held elsewhere must be mapped.
        """
        # C-level passes (compress, map, accumulate): the store's lock is held meanwhile.
        live = list(map(DEAD.__ne__, self._locations))
        rank = array("q", accumulate(live, initial=0))
        newest_live = list(map(live.__getitem__, self._sorted_slots))
        self._sorted_ids = array("q", compress(self._sorted_ids, newest_live))
        self._sorted_slots = array(
            "q", map(rank.__getitem__, compress(self._sorted_slots, newest_live))
        )
        self._ids = array("q", compress(self._ids, live))
        self._locations = array("q", compress(self._locations, live))
        self._sizes = array("I", compress(self._sizes, live))
        self._created = array("d", compress(self._created, live))
        channels = [n for n, slots in enumerate(self._channel_slots) if slots]
        authors = [n for n, slots in enumerate(self._author_slots) if slots]
        channel_number = dict(zip(channels, range(len(channels)), strict=True))
        author_number = dict(zip(authors, range(len(authors)), strict=True))
        self._channel_of = array(
            "I", map(channel_number.__getitem__, compress(self._channel_of, live))
        )
        self._author_of = array(
            "I", map(author_number.__getitem__, compress(self._author_of, live))
        )
        self._channel_slots = [
            array("q", map(rank.__getitem__, self._channel_slots[n])) for n in channels
        ]
        self._author_slots = [
            array("q", map(rank.__getitem__, self._author_slots[n])) for n in authors
        ]
        self._channel_ids = [self._channel_ids[n] for n in channels]
        self._author_keys = [self._author_keys[n] for n in authors]
        self._channel_numbers = {c: n for n, c in enumerate(self._channel_ids)}
        self._author_numbers = {k: n for n, k in enumerate(self._author_keys)}
        return rank

    # -- snapshot -------------------------------------------------------------------------

    def to_snapshot(self) -> tuple[dict[str, Any], list[bytes]]:
        """A header (JSON-able) and the raw column bytes, to rebuild the index quickly."""
        header = {
            "byteorder": sys.byteorder,
            "slots": len(self._ids),
            "ids": len(self._sorted_ids),
            "channels": list(self._channel_ids),  # a copy: new channels come meanwhile
            # A member with no live message is written as ERASED: "forget me" and retention
            # must leave no trace of them in the files, not even their id.
            "authors": [
                key if slots else ERASED
                for key, slots in zip(self._author_keys, self._author_slots, strict=True)
            ],
            "channel_lengths": [len(slots) for slots in self._channel_slots],
            "author_lengths": [len(slots) for slots in self._author_slots],
        }
        columns: list[array[Any]] = [
            self._ids,
            self._locations,
            self._sizes,
            self._created,
            self._channel_of,
            self._author_of,
            self._sorted_ids,
            self._sorted_slots,
            *self._channel_slots,
            *self._author_slots,
        ]
        return header, [column.tobytes() for column in columns]

    @classmethod
    def from_snapshot(cls, header: dict[str, Any], blob: memoryview) -> MessageIndex:
        if header["byteorder"] != sys.byteorder:
            raise ValueError("snapshot written on a machine of another byte order")
        index = cls()
        cursor = 0

        def take(column: array[Any], count: int) -> array[Any]:
            nonlocal cursor
            end = cursor + count * column.itemsize
            column.frombytes(blob[cursor:end])
            cursor = end
            return column

        slots, ids = header["slots"], header["ids"]
        index._ids = take(array("q"), slots)
        index._locations = take(array("q"), slots)
        index._sizes = take(array("I"), slots)
        index._created = take(array("d"), slots)
        index._channel_of = take(array("I"), slots)
        index._author_of = take(array("I"), slots)
        index._sorted_ids = take(array("q"), ids)
        index._sorted_slots = take(array("q"), ids)
        if len(header["channels"]) != len(header["channel_lengths"]) or len(
            header["authors"]
        ) != len(header["author_lengths"]):
            raise ValueError("snapshot header does not match its columns")
        index._channel_ids = list(header["channels"])
        index._author_keys = [(guild, author) for guild, author in header["authors"]]
        index._channel_numbers = {c: n for n, c in enumerate(index._channel_ids)}
        index._author_numbers = {k: n for n, k in enumerate(index._author_keys) if k != ERASED}
        index._channel_slots = [take(array("q"), n) for n in header["channel_lengths"]]
        index._author_slots = [take(array("q"), n) for n in header["author_lengths"]]
        if cursor != len(blob):
            raise ValueError("snapshot size does not match its header")
        return index
