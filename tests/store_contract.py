"""The store contract: what every implementation of `MessageStore`, `StateStore` and
`UsageStore` does.

Written once against the ports; `tests/test_store_contract.py` runs every test here against
every implementation (its `IMPLEMENTATIONS` list). A test takes `store` (a store opened on a
fresh place) and, to reopen that place, `place`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from services.store import (
    STATE_KINDS,
    Arrival,
    Document,
    MessageStore,
    StateKind,
    StateStore,
    StoredAttachment,
    StoredMessage,
    UsageRow,
    UsageStore,
)

GUILD = 10
SERVER_KINDS = ("guild_settings", "music_queue")  # keyed by a guild id
OTHER_GUILD = 11
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Store(MessageStore, StateStore, UsageStore, Protocol):
    """The ports in one object, as every store implements them."""


OpenStore = Callable[[Path], Awaitable[Store]]


@dataclass
class StorePlace:
    """Where a store keeps its data; `open` again after a close reopens the same data
    (for a `durable` store: the in-memory one starts empty every time)."""

    open_store: OpenStore
    path: Path
    durable: bool
    opened: list[Store] = field(default_factory=list)

    async def open(self) -> Store:
        store = await self.open_store(self.path)
        self.opened.append(store)
        return store

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()


def message(
    n: int,
    *,
    channel: int = 1,
    author: int = 100,
    guild: int = GUILD,
    content: str | None = None,
) -> StoredMessage:
    return StoredMessage(
        message_id=1000 + n,
        guild_id=guild,
        channel_id=channel,
        author_id=author,
        author_name=f"member{author}",
        content=f"message {n}" if content is None else content,
        created_at=START + timedelta(minutes=n),
    )


def ids(messages: list[StoredMessage]) -> list[int]:
    return [m.message_id for m in messages]


# -- reading ---------------------------------------------------------------------------------


async def test_last_in_channel_is_oldest_first_and_bounded(store: Store) -> None:
    for n in range(8):
        await store.add(message(n, channel=1 if n % 2 == 0 else 2), counted=True)
    assert ids(await store.last_in_channel(1, 3)) == [1002, 1004, 1006]
    assert ids(await store.last_in_channel(1, 100)) == [1000, 1002, 1004, 1006]
    assert ids(await store.last_in_channel(2, 1)) == [1007]
    assert await store.last_in_channel(1, 0) == []
    assert await store.last_in_channel(3, 5) == []


async def test_last_in_channel_up_to_a_message(store: Store) -> None:
    for n in range(8):
        await store.add(message(n, channel=1 if n % 2 == 0 else 2), counted=True)
    assert ids(await store.last_in_channel(1, 2, up_to=1005)) == [1002, 1004]
    assert ids(await store.last_in_channel(1, 2, up_to=1004)) == [1002, 1004]  # inclusive
    assert ids(await store.last_in_channel(1, 10, up_to=1002)) == [1000, 1002]
    assert await store.last_in_channel(1, 2, up_to=999) == []


async def test_messages_are_ordered_by_id_whatever_the_arrival_order(store: Store) -> None:
    for n in (5, 1, 4, 2, 3):
        await store.add(message(n, author=100 + n % 2), counted=True)
    assert ids(await store.last_in_channel(1, 10)) == [1001, 1002, 1003, 1004, 1005]
    assert ids(await store.last_by_author(GUILD, 101, 10)) == [1001, 1003, 1005]
    assert ids(await store.last_in_channel(1, 2)) == [1004, 1005]


async def test_last_by_author_is_per_guild_oldest_first_and_bounded(store: Store) -> None:
    for n in range(6):
        await store.add(message(n, author=100 if n < 4 else 200), counted=True)
    await store.add(message(6, author=100, guild=OTHER_GUILD, channel=9), counted=True)
    last = await store.last_by_author(GUILD, 100, 30)
    assert ids(last) == [1000, 1001, 1002, 1003]
    assert [m.author_name for m in last] == ["member100"] * 4
    assert ids(await store.last_by_author(GUILD, 100, 2)) == [1002, 1003]
    assert ids(await store.last_by_author(OTHER_GUILD, 100, 30)) == [1006]
    assert await store.last_by_author(GUILD, 100, 0) == []
    assert await store.last_by_author(GUILD, 999, 30) == []


async def test_a_read_right_after_add_returns_sees_the_whole_message(store: Store) -> None:
    sent = replace(
        message(1, content="hello, ünïcödé 👋\nsecond line"),
        from_bot=True,
        author_name="Aria ✨",
    )
    arrival = await store.add(sent, counted=False)
    assert arrival == Arrival(new=True, count=None)
    assert await store.last_in_channel(1, 5) == [sent]
    assert await store.last_by_author(GUILD, 100, 5) == [sent]
    [read] = await store.last_in_channel(1, 1)
    assert read.created_at == START + timedelta(minutes=1)
    assert read.created_at.utcoffset() == timedelta(0)
    assert read.edited_at is None


async def test_attachments_are_kept_described_and_survive_an_edit(store: Store) -> None:
    files = (
        StoredAttachment(
            "cat photo ü.png", "image/png", 48_213, "https://cdn.discordapp.com/a/1/cat.png?ex=1"
        ),
        StoredAttachment("notes.txt", None, 12, "https://cdn.discordapp.com/a/2/notes.txt"),
    )
    with_files = replace(message(1), attachments=files)
    await store.add(with_files, counted=True)
    await store.add(message(2), counted=True)
    assert await store.last_in_channel(1, 5) == [with_files, message(2)]
    assert await store.last_by_author(GUILD, 100, 1) == [message(2)]
    edited_at = START + timedelta(hours=1)
    assert await store.edit(1001, "changed", edited_at)
    [read, _] = await store.last_in_channel(1, 5)
    assert read.attachments == files and read.content == "changed"


async def test_concurrent_adds_are_counted_and_visible_in_call_order(store: Store) -> None:
    messages = [message(n, author=100 + n % 3) for n in range(20)]
    seen: list[list[int]] = [[] for _ in messages]

    async def add_then_read(n: int) -> Arrival:
        arrival = await store.add(messages[n], counted=True)
        seen[n] = ids(await store.last_in_channel(1, 100))
        return arrival

    arrivals = await asyncio.gather(*(add_then_read(n) for n in range(20)))
    assert [a.count for a in arrivals] == list(range(1, 21))  # the order of the calls
    assert all(a.new for a in arrivals)
    for n, found in enumerate(seen):
        # When an add returns, it and every add called before it are visible.
        assert set(ids(messages[: n + 1])) <= set(found)
    assert ids(await store.last_in_channel(1, 100)) == ids(messages)
    assert await store.channel_count(1) == 20


async def test_an_edit_delete_or_forget_called_after_an_add_finds_its_message(
    store: Store,
) -> None:
    """Called while the adds are still being written (a forget right after the member's
    last message): each applies to what was added before it."""
    edited, deleted, forgotten = message(1), message(2), message(3, author=102)
    results = await asyncio.gather(
        store.add(edited, counted=True),
        store.add(deleted, counted=True),
        store.add(forgotten, counted=True),
        store.edit(1001, "changed", START + timedelta(hours=1)),
        store.delete(1002),
        store.forget_author(GUILD, 102),
    )
    assert list(results[3:]) == [True, True, 1]
    [kept] = await store.last_in_channel(1, 10)
    assert (kept.message_id, kept.content) == (1001, "changed")


# -- counting --------------------------------------------------------------------------------


async def test_counts_are_per_channel_and_start_at_one(store: Store) -> None:
    assert await store.channel_count(1) == 0
    assert (await store.add(message(1, channel=1), counted=True)).count == 1
    assert (await store.add(message(2, channel=2), counted=True)).count == 1
    assert (await store.add(message(3, channel=1), counted=True)).count == 2
    assert await store.channel_count(1) == 2
    assert await store.channel_count(2) == 1
    assert await store.channel_count(3) == 0


async def test_a_replay_is_stored_once_and_counted_once(store: Store) -> None:
    assert await store.add(message(1), counted=True) == Arrival(new=True, count=1)
    assert await store.add(message(1), counted=True) == Arrival(new=False, count=None)
    assert ids(await store.last_in_channel(1, 10)) == [1001]
    assert await store.channel_count(1) == 1
    assert await store.add(message(2), counted=True) == Arrival(new=True, count=2)


async def test_a_replay_does_not_undo_an_edit(store: Store) -> None:
    await store.add(message(1, content="first words"), counted=True)
    assert await store.edit(1001, "edited words", START + timedelta(minutes=1))
    replay = await store.add(message(1, content="first words"), counted=True)
    assert replay == Arrival(new=False, count=None)
    [kept] = await store.last_in_channel(1, 10)
    assert (kept.content, kept.edited_at) == ("edited words", START + timedelta(minutes=1))


async def test_an_uncounted_message_is_stored_and_not_counted(store: Store) -> None:
    assert await store.add(message(1), counted=False) == Arrival(new=True, count=None)
    assert await store.channel_count(1) == 0
    # Already stored: a replay does not count it, even when it asks to be counted.
    assert await store.add(message(1), counted=True) == Arrival(new=False, count=None)
    assert await store.channel_count(1) == 0
    assert ids(await store.last_in_channel(1, 10)) == [1001]


async def test_count_counts_a_message_that_is_not_kept(store: Store) -> None:
    assert (await store.add(message(1), counted=True)).count == 1
    assert await store.count(1, 1002) == Arrival(new=True, count=2)
    assert (await store.add(message(3), counted=True)).count == 3
    assert ids(await store.last_in_channel(1, 10)) == [1001, 1003]  # 1002 is not kept
    assert await store.count(1, 1002) == Arrival(new=False, count=None)  # a replay
    assert await store.channel_count(1) == 3
    assert await store.count(2, 2001) == Arrival(new=True, count=1)  # channels apart


async def test_concurrent_counts_and_adds_follow_call_order(store: Store) -> None:
    calls = [
        store.count(1, 5000 + n) if n % 3 == 0 else store.add(message(n), counted=True)
        for n in range(15)
    ]
    arrivals = await asyncio.gather(*calls)
    assert [a.count for a in arrivals] == list(range(1, 16))
    assert await store.channel_count(1) == 15


async def test_removing_messages_never_takes_a_count_back(store: Store) -> None:
    for n in range(6):
        await store.add(message(n, author=100 + n % 2), counted=True)
    await store.edit(1000, "changed", START + timedelta(hours=1))
    await store.delete(1001)
    await store.forget_author(GUILD, 101)
    await store.delete_older_than(START + timedelta(days=1))
    assert await store.last_in_channel(1, 10) == []
    assert await store.channel_count(1) == 6
    assert (await store.add(message(10), counted=True)).count == 7


# -- changing and removing -------------------------------------------------------------------


async def test_edit_changes_the_content_and_the_edit_time(store: Store) -> None:
    await store.add(message(1), counted=True)
    await store.add(message(2), counted=True)
    edited_at = START + timedelta(hours=1)
    assert await store.edit(1001, "changed", edited_at)
    assert not await store.edit(5555, "nothing here", edited_at)
    first, second = await store.last_in_channel(1, 10)
    assert first == replace(message(1), content="changed", edited_at=edited_at)
    assert second == message(2)
    assert await store.last_by_author(GUILD, 100, 1) == [second]
    assert await store.channel_count(1) == 2  # an edit is not a new message


async def test_delete_removes_one_message(store: Store) -> None:
    for n in range(3):
        await store.add(message(n), counted=True)
    assert await store.delete(1001)
    assert not await store.delete(1001)
    assert not await store.delete(5555)
    assert ids(await store.last_in_channel(1, 10)) == [1000, 1002]
    assert ids(await store.last_by_author(GUILD, 100, 10)) == [1000, 1002]
    assert not await store.edit(1001, "too late", START)


async def test_delete_many_removes_those_messages_and_counts_them(store: Store) -> None:
    for n in range(6):
        await store.add(message(n), counted=True)
    counts = await store.channel_count(1)
    # Unknown ids and repeats are no error, and are not counted.
    assert await store.delete_many([1001, 1003, 1003, 5555, 1005]) == 3
    assert await store.delete_many([1001, 1003]) == 0
    assert await store.delete_many([]) == 0
    assert ids(await store.last_in_channel(1, 10)) == [1000, 1002, 1004]
    assert ids(await store.last_by_author(GUILD, 100, 10)) == [1000, 1002, 1004]
    assert not await store.edit(1003, "too late", START)
    assert await store.channel_count(1) == counts


async def test_delete_many_called_after_adds_finds_their_messages(store: Store) -> None:
    results = await asyncio.gather(
        store.add(message(1), counted=True),
        store.add(message(2), counted=True),
        store.delete_many([1001, 1002]),
    )
    assert results[2] == 2
    assert await store.last_in_channel(1, 10) == []


async def test_forget_author_removes_only_that_member_in_that_guild(store: Store) -> None:
    for n in range(10):
        await store.add(message(n, author=100 if n % 2 else 200, channel=1 + n % 3), counted=True)
    await store.add(message(20, author=100, guild=OTHER_GUILD, channel=9), counted=True)
    counts = [await store.channel_count(channel) for channel in (1, 2, 3, 9)]
    assert await store.forget_author(GUILD, 100) == 5
    assert await store.forget_author(GUILD, 100) == 0
    assert await store.last_by_author(GUILD, 100, 30) == []
    assert ids(await store.last_by_author(GUILD, 200, 30)) == [1000, 1002, 1004, 1006, 1008]
    assert ids(await store.last_by_author(OTHER_GUILD, 100, 30)) == [1020]
    left = [m for c in (1, 2, 3) for m in await store.last_in_channel(c, 30)]
    assert {m.author_id for m in left} == {200}
    assert [await store.channel_count(channel) for channel in (1, 2, 3, 9)] == counts


async def test_delete_older_than_removes_only_older_messages(store: Store) -> None:
    for n in range(5):
        await store.add(message(n, author=100 + n % 2), counted=True)
    assert await store.delete_older_than(START + timedelta(minutes=3)) == 3
    assert await store.delete_older_than(START + timedelta(minutes=3)) == 0
    assert ids(await store.last_in_channel(1, 10)) == [1003, 1004]
    assert ids(await store.last_by_author(GUILD, 101, 10)) == [1003]
    assert await store.channel_count(1) == 5


# -- a member's and a server's data in every guild --------------------------------------------


async def test_messages_of_author_pages_through_every_guild_oldest_first(store: Store) -> None:
    for n in range(6):
        await store.add(
            message(n, author=100 if n % 2 == 0 else 200, channel=1 + n % 3), counted=True
        )
    await store.add(message(7, author=100, guild=OTHER_GUILD, channel=9), counted=True)
    assert ids(await store.messages_of_author(100, limit=100)) == [1000, 1002, 1004, 1007]
    first = await store.messages_of_author(100, limit=2)
    assert ids(first) == [1000, 1002]
    assert ids(await store.messages_of_author(100, after=1002, limit=2)) == [1004, 1007]
    assert await store.messages_of_author(100, after=1007, limit=2) == []
    assert await store.messages_of_author(100, limit=0) == []
    assert await store.messages_of_author(999, limit=10) == []
    assert first[0] == message(0, author=100, channel=1)  # the whole message, text opened


async def test_forget_author_everywhere_removes_the_member_in_every_guild(store: Store) -> None:
    for n in range(4):
        await store.add(message(n, author=100 if n % 2 == 0 else 200), counted=True)
    await store.add(message(7, author=100, guild=OTHER_GUILD, channel=9), counted=True)
    assert await store.forget_author_everywhere(100) == 3
    assert await store.forget_author_everywhere(100) == 0
    assert await store.messages_of_author(100, limit=10) == []
    assert ids(await store.messages_of_author(200, limit=10)) == [1001, 1003]
    assert await store.channel_count(1) == 4  # counts are the channel's, not the member's


async def test_forget_guild_removes_its_messages_and_counts_only(store: Store) -> None:
    for n in range(6):
        await store.add(message(n, channel=1 + n % 2), counted=True)
    await store.count(3, 1100)  # a channel where only an opted-out member wrote
    await store.add(message(7, guild=OTHER_GUILD, channel=9), counted=True)
    assert await store.guilds_with_messages() == {GUILD, OTHER_GUILD}
    assert await store.forget_guild(GUILD, channel_ids=[3]) == 6
    assert await store.guilds_with_messages() == {OTHER_GUILD}
    assert [await store.channel_count(c) for c in (1, 2, 3, 9)] == [0, 0, 0, 1]
    assert ids(await store.messages_of_author(100, limit=10)) == [1007]
    assert await store.forget_guild(GUILD) == 0
    # The server's channels start afresh; what was counted before is not a replay any more.
    assert await store.add(message(0, channel=1), counted=True) == Arrival(new=True, count=1)


async def test_a_members_usage_in_every_guild_and_a_guilds_usage(store: Store) -> None:
    await store.add_usage(usage(member=100))
    await store.add_usage(usage(member=100, day=DAY - timedelta(days=1), kind="persona"))
    await store.add_usage(usage(member=101))
    await store.add_usage(usage(member=100, guild=OTHER_GUILD, channel=9))
    assert [(r.day, r.guild_id, r.kind) for r in await store.usage_of_member(100)] == [
        (DAY - timedelta(days=1), GUILD, "persona"),
        (DAY, GUILD, "decision"),
        (DAY, OTHER_GUILD, "decision"),
    ]
    assert await store.guilds_with_usage() == {GUILD, OTHER_GUILD}
    assert await store.forget_guild_usage(OTHER_GUILD) == 1
    assert await store.guilds_with_usage() == {GUILD}
    assert await store.forget_member_usage_everywhere(100) == 2
    assert await store.usage_of_member(100) == []
    assert [r.member_id for r in await store.usage_for(GUILD, DAY)] == [101]


# -- state -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", STATE_KINDS)
async def test_state_documents_round_trip(store: Store, kind: StateKind) -> None:
    document: Document = {
        "version": 2,
        "text": "ünïcödé ✨",
        "items": [{"url": "https://example.com/a", "n": 1}, None, True, 1.5],
        "nested": {"a": {"b": []}},
    }
    # Per-server kinds are keyed by a guild id, per-member ones by guild and member.
    key, other = ("10", "11") if kind in SERVER_KINDS else ("10:100", "10:101")
    assert await store.get_state(kind, key) is None
    await store.put_state(kind, key, document)
    assert await store.get_state(kind, key) == document
    await store.put_state(kind, key, {"version": 3})  # replaced, not merged
    assert await store.get_state(kind, key) == {"version": 3}
    assert await store.get_state(kind, other) is None


async def test_state_kinds_and_keys_are_apart(store: Store) -> None:
    for n, kind in enumerate(STATE_KINDS):
        await store.put_state(kind, "1", {"kind": kind, "n": n})
    await store.put_state("persona", "2", {"other": True})
    for n, kind in enumerate(STATE_KINDS):
        assert await store.get_state(kind, "1") == {"kind": kind, "n": n}
    assert await store.get_state("privacy", "2") is None
    assert await store.get_state("persona", "2") == {"other": True}


async def test_a_state_document_is_a_copy_both_ways(store: Store) -> None:
    document: Document = {"ids": [1, 2]}
    await store.put_state("bot_replies", "k", document)
    document["ids"].append(3)  # the caller's dict is not the stored one
    read = await store.get_state("bot_replies", "k")
    assert read == {"ids": [1, 2]}
    assert read is not None
    read["ids"].append(4)  # nor is what a read returns
    assert await store.get_state("bot_replies", "k") == {"ids": [1, 2]}


async def test_delete_state(store: Store) -> None:
    await store.put_state("music_queue", "10", {"tracks": ["a"]})
    await store.put_state("music_queue", "11", {"tracks": ["b"]})
    assert await store.delete_state("music_queue", "10")
    assert not await store.delete_state("music_queue", "10")
    assert not await store.delete_state("persona", "11")
    assert await store.get_state("music_queue", "10") is None
    assert await store.get_state("music_queue", "11") == {"tracks": ["b"]}


async def test_update_state_creates_changes_and_deletes(store: Store) -> None:
    seen: list[Document | None] = []

    def append(value: int) -> Callable[[Document | None], Document | None]:
        def change(document: Document | None) -> Document | None:
            seen.append(None if document is None else dict(document))
            return {"ids": [*(document or {"ids": []})["ids"], value]}

        return change

    assert await store.update_state("bot_replies", "10:1", append(1)) == {"ids": [1]}
    assert await store.update_state("bot_replies", "10:1", append(2)) == {"ids": [1, 2]}
    assert seen == [None, {"ids": [1]}]
    assert await store.get_state("bot_replies", "10:1") == {"ids": [1, 2]}
    assert await store.update_state("bot_replies", "10:1", lambda document: None) is None
    assert await store.get_state("bot_replies", "10:1") is None
    assert await store.update_state("bot_replies", "10:2", lambda document: None) is None
    assert await store.state_items("bot_replies") == []


async def test_update_state_that_raises_changes_nothing(store: Store) -> None:
    await store.put_state("privacy", "10:1", {"choice": "opt_out"})

    def fail(document: Document | None) -> Document | None:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        await store.update_state("privacy", "10:1", fail)
    assert await store.get_state("privacy", "10:1") == {"choice": "opt_out"}
    # ... and the store is not left locked.
    assert await store.update_state("privacy", "10:1", lambda d: {"choice": "in"}) == {
        "choice": "in"
    }


async def test_concurrent_updates_lose_no_update(store: Store) -> None:
    def append(value: int) -> Callable[[Document | None], Document | None]:
        return lambda document: {"ids": [*(document or {"ids": []})["ids"], value]}

    async def put_elsewhere(n: int) -> None:
        await store.put_state("bot_replies", f"other:{n}", {"n": n})

    await asyncio.gather(
        *(store.update_state("bot_replies", "10:1", append(n)) for n in range(10)),
        *(put_elsewhere(n) for n in range(3)),
    )
    final = await store.get_state("bot_replies", "10:1")
    assert final is not None
    assert sorted(final["ids"]) == list(range(10))


async def test_state_items_gives_every_document_of_the_kind(store: Store) -> None:
    assert await store.state_items("persona") == []
    await store.put_state("persona", "10:1", {"style": "direct"})
    await store.put_state("persona", "10:2", {"style": "playful"})
    await store.put_state("persona", "10:1", {"style": "elegant"})
    await store.put_state("privacy", "10:3", {"choice": "opt_out"})
    await store.delete_state("persona", "10:2")
    await store.put_state("persona", "11:4", {"style": "direct"})
    assert sorted(await store.state_items("persona")) == [
        ("10:1", {"style": "elegant"}),
        ("11:4", {"style": "direct"}),
    ]
    assert await store.state_items("privacy") == [("10:3", {"choice": "opt_out"})]


# -- token usage -----------------------------------------------------------------------------

DAY = date(2026, 11, 24)


def usage(
    *,
    day: date = DAY,
    guild: int = GUILD,
    channel: int = 1,
    member: int = 100,
    kind: str = "decision",
    prompt: int = 1000,
    completion: int = 50,
    cached: int = 256,
) -> UsageRow:
    return UsageRow(day, guild, channel, member, kind, prompt, completion, cached)


async def test_usage_adds_up_per_key_and_keeps_keys_apart(store: Store) -> None:
    await store.add_usage(usage())
    await store.add_usage(usage(prompt=10, completion=5, cached=0))
    await store.add_usage(usage(kind="persona", channel=0))
    await store.add_usage(usage(member=101))
    await store.add_usage(usage(channel=2))
    assert await store.usage_for(GUILD, DAY) == [
        UsageRow(DAY, GUILD, 0, 100, "persona", 1000, 50, 256, calls=1),
        UsageRow(DAY, GUILD, 1, 100, "decision", 1010, 55, 256, calls=2),
        UsageRow(DAY, GUILD, 1, 101, "decision", 1000, 50, 256, calls=1),
        UsageRow(DAY, GUILD, 2, 100, "decision", 1000, 50, 256, calls=1),
    ]


async def test_concurrent_usage_adds_lose_no_count(store: Store) -> None:
    await asyncio.gather(*(store.add_usage(usage(prompt=n, completion=1)) for n in range(1, 41)))
    (row,) = await store.usage_for(GUILD, DAY)
    assert (row.prompt, row.completion, row.cached, row.calls) == (820, 40, 40 * 256, 40)


async def test_usage_for_is_one_guild_from_a_day_on_by_day(store: Store) -> None:
    for offset in (2, 0, 1, -1):
        await store.add_usage(usage(day=DAY + timedelta(days=offset), prompt=offset + 10))
    await store.add_usage(usage(guild=OTHER_GUILD))
    rows = await store.usage_for(GUILD, DAY)
    assert [(row.day, row.prompt) for row in rows] == [
        (DAY, 10),
        (DAY + timedelta(days=1), 11),
        (DAY + timedelta(days=2), 12),
    ]
    assert [row.guild_id for row in await store.usage_for(OTHER_GUILD, DAY)] == [OTHER_GUILD]
    assert await store.usage_for(GUILD, DAY + timedelta(days=3)) == []


async def test_delete_usage_before_removes_only_earlier_days(store: Store) -> None:
    for offset in range(-3, 2):
        await store.add_usage(usage(day=DAY + timedelta(days=offset)))
        await store.add_usage(usage(day=DAY + timedelta(days=offset), guild=OTHER_GUILD))
    assert await store.delete_usage_before(DAY) == 6
    assert await store.delete_usage_before(DAY) == 0
    for guild in (GUILD, OTHER_GUILD):
        rows = await store.usage_for(guild, DAY - timedelta(days=30))
        assert [row.day for row in rows] == [DAY, DAY + timedelta(days=1)]


async def test_forget_member_usage_removes_only_that_member_in_that_guild(store: Store) -> None:
    await store.add_usage(usage(member=100))
    await store.add_usage(usage(member=100, kind="persona", channel=0))
    await store.add_usage(usage(member=100, day=DAY - timedelta(days=1)))
    await store.add_usage(usage(member=101))
    await store.add_usage(usage(member=100, guild=OTHER_GUILD))
    assert await store.forget_member_usage(GUILD, 100) == 3
    assert await store.forget_member_usage(GUILD, 100) == 0
    since = DAY - timedelta(days=30)
    assert [row.member_id for row in await store.usage_for(GUILD, since)] == [101]
    assert [row.member_id for row in await store.usage_for(OTHER_GUILD, since)] == [100]
    await store.add_usage(usage(member=100))  # counted afresh from zero
    assert [(r.member_id, r.calls) for r in await store.usage_for(GUILD, DAY)] == [
        (100, 1),
        (101, 1),
    ]


# -- durability ------------------------------------------------------------------------------


async def test_messages_counts_and_state_survive_a_close_and_reopen(place: StorePlace) -> None:
    if not place.durable:
        pytest.skip("an in-memory store keeps nothing across a close: nothing to reopen")
    first = await place.open()
    for n in range(5):
        await first.add(message(n, author=100 + n % 2), counted=True)
    await first.count(1, 2000)
    await first.add(message(9, channel=2), counted=False)
    await first.edit(1001, "edited", START + timedelta(hours=1))
    await first.delete(1002)
    await first.add(message(7, channel=3), counted=True)
    await first.add(message(8, channel=3), counted=True)
    assert await first.delete_many([1007, 1008]) == 2
    await first.put_state("guild_settings", "10", {"temperature": 0.9})
    await first.put_state("persona", "10:100", {"style": "direct"})
    await first.put_state("persona", "10:101", {"style": "playful"})
    await first.delete_state("persona", "10:101")
    expected = await first.last_in_channel(1, 10)
    await first.close()

    second = await place.open()
    assert await second.last_in_channel(1, 10) == expected
    assert [m.content for m in expected] == ["message 0", "edited", "message 3", "message 4"]
    assert ids(await second.last_in_channel(2, 10)) == [1009]
    assert await second.last_in_channel(3, 10) == []  # deleted together, still deleted
    assert await second.channel_count(1) == 6
    assert await second.channel_count(2) == 0
    assert (await second.add(message(10), counted=True)).count == 7  # carries on
    assert await second.add(message(3), counted=True) == Arrival(new=False, count=None)
    # A count alone is remembered too: the catch-up after a restart reads it back.
    assert await second.count(1, 2000) == Arrival(new=False, count=None)
    assert await second.channel_count(1) == 7
    assert await second.get_state("guild_settings", "10") == {"temperature": 0.9}
    assert await second.state_items("persona") == [("10:100", {"style": "direct"})]


async def test_usage_survives_a_close_and_reopen(place: StorePlace) -> None:
    if not place.durable:
        pytest.skip("an in-memory store keeps nothing across a close: nothing to reopen")
    first = await place.open()
    await first.add_usage(usage())
    await first.add_usage(usage(kind="persona", channel=0))
    await first.close()
    second = await place.open()
    await second.add_usage(usage())
    assert [(row.kind, row.prompt, row.calls) for row in await second.usage_for(GUILD, DAY)] == [
        ("persona", 1000, 1),
        ("decision", 2000, 2),
    ]
