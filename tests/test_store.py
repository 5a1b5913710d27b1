from __future__ import annotations

import asyncio
import base64
import json
import random
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.store import Document, LogLimits, LogStore, StoredMessage
from services.store.message_log import MessageLog
from tests.harness import kill_9, start_writer

GUILD = 10
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def message(n: int, *, channel: int = 1, author: int = 100, guild: int = GUILD) -> StoredMessage:
    return StoredMessage(
        message_id=1000 + n,
        guild_id=guild,
        channel_id=channel,
        author_id=author,
        author_name=f"member{author}",
        content=f"message {n}",
        created_at=START + timedelta(minutes=n),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LogStore]:
    opened = LogStore(tmp_path)
    yield opened
    await opened.close()


async def test_last_in_channel_is_oldest_first_and_bounded(store: LogStore) -> None:
    for n in range(8):
        await store.add(message(n, channel=1 if n % 2 == 0 else 2))
    last = await store.last_in_channel(1, 3)
    assert [m.content for m in last] == ["message 2", "message 4", "message 6"]
    assert await store.last_in_channel(3, 5) == []
    up_to = await store.last_in_channel(1, 2, up_to=1005)
    assert [m.content for m in up_to] == ["message 2", "message 4"]
    assert await store.last_in_channel(1, 2, up_to=999) == []


async def test_last_by_author_is_per_guild(store: LogStore) -> None:
    for n in range(6):
        await store.add(message(n, author=100 if n < 4 else 200))
    await store.add(message(6, author=100, guild=99))
    last = await store.last_by_author(GUILD, 100, 30)
    assert [m.message_id for m in last] == [1000, 1001, 1002, 1003]
    assert [m.author_name for m in last] == ["member100"] * 4


async def test_adding_the_same_message_twice_keeps_one(store: LogStore) -> None:
    await store.add(message(1))
    await store.add(message(1))
    assert len(await store.last_in_channel(1, 10)) == 1


async def test_edit_and_delete(store: LogStore) -> None:
    await store.add(message(1))
    await store.add(message(2))
    edited_at = START + timedelta(hours=1)
    assert await store.edit(1001, "changed", edited_at)
    assert not await store.edit(5555, "nothing here", edited_at)
    assert await store.delete(1002)
    assert not await store.delete(1002)
    [kept] = await store.last_in_channel(1, 10)
    assert kept.content == "changed"
    assert kept.edited_at == edited_at


async def test_forget(store: LogStore) -> None:
    for n in range(10):
        await store.add(message(n, author=100 if n % 2 else 200, channel=1 if n < 5 else 2))
    assert await store.forget_author(GUILD, 100) == 5
    assert await store.last_by_author(GUILD, 100, 30) == []
    assert len(await store.last_by_author(GUILD, 200, 30)) == 5


async def test_retention_deletes_only_older_messages(store: LogStore) -> None:
    for n in range(5):
        await store.add(message(n))
    assert await store.delete_older_than(START + timedelta(minutes=3)) == 3
    assert [m.message_id for m in await store.last_in_channel(1, 10)] == [1003, 1004]


async def test_state_documents_are_replaced_not_merged(store: LogStore) -> None:
    await store.put_state("guild_settings", "1", {"temperature": 0.3, "extra": True})
    await store.put_state("guild_settings", "1", {"temperature": 0.4})
    assert await store.get_state("guild_settings", "1") == {"temperature": 0.4}
    assert await store.get_state("guild_settings", "2") is None
    assert await store.delete_state("guild_settings", "1")
    assert await store.get_state("guild_settings", "1") is None


async def test_update_state_is_one_atomic_read_and_write(store: LogStore) -> None:
    def append(n: int) -> Callable[[Document | None], Document | None]:
        return lambda document: {"ids": [*(document or {"ids": []})["ids"], n]}

    await asyncio.gather(*(store.update_state("bot_replies", "1", append(n)) for n in range(10)))
    final = await store.get_state("bot_replies", "1")
    assert final is not None
    assert sorted(final["ids"]) == list(range(10))
    assert await store.update_state("bot_replies", "1", lambda document: None) is None
    assert await store.get_state("bot_replies", "1") is None


async def test_state_items_gives_every_document_of_the_kind(store: LogStore) -> None:
    await store.put_state("persona", "10:1", {"style": "direct"})
    await store.put_state("persona", "10:2", {"style": "playful"})
    await store.put_state("privacy", "10:3", {"choice": "opt_out"})
    assert sorted(await store.state_items("persona")) == [
        ("10:1", {"style": "direct"}),
        ("10:2", {"style": "playful"}),
    ]


async def test_each_kind_of_state_has_a_file_of_its_own(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    try:
        await store.put_state("persona", "10:100", {"summary": "x" * 5000})
        await store.put_state("music_queue", "10", {"tracks": ["a"]})
        persona_file = (tmp_path / "state" / "persona.json").read_bytes()
        await store.update_state("music_queue", "10", lambda d: {"tracks": ["a", "b"]})
        # Changing the queue rewrote the small queue file, never the profiles.
        assert (tmp_path / "state" / "persona.json").read_bytes() == persona_file
        assert b'"tracks":["a","b"]' in (tmp_path / "state" / "music_queue.json").read_bytes()
        with pytest.raises(ValueError, match="not a state kind"):
            await store.get_state("../escape", "1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="_key"):
            await store.put_state("persona", "1", {"_key": "2"})
    finally:
        await store.close()


async def test_data_survives_reopening(tmp_path: Path) -> None:
    first = LogStore(tmp_path)
    await first.add(message(1))
    await first.put_state("guild_settings", "10", {"temperature": 0.9})
    await first.close()
    second = LogStore(tmp_path)
    try:
        assert [m.message_id for m in await second.last_in_channel(1, 5)] == [1001]
        assert await second.get_state("guild_settings", "10") == {"temperature": 0.9}
    finally:
        await second.close()


WRITER = """
import asyncio, sys
from datetime import UTC, datetime
from pathlib import Path
from services.store import StoredMessage, LogStore

async def main() -> None:
    store = LogStore(Path(sys.argv[1]))
    n = 0
    while True:
        n += 1
        await store.add(StoredMessage(n, 1, 1, 2, "a", "x" * 50, datetime.now(UTC)))
        if n % 3 == 0:
            await store.delete(n - 1)  # a write that makes the file shorter
        print(n, flush=True)

asyncio.run(main())
"""


async def stored_ids(data_dir: Path) -> set[int]:
    reopened = LogStore(data_dir)
    try:
        return {m.message_id for m in await reopened.last_in_channel(1, 10_000)}
    finally:
        await reopened.close()


@pytest.mark.parametrize("kill_after", [5, 23, 61])
def test_acknowledged_messages_survive_kill_9(tmp_path: Path, kill_after: int) -> None:
    child = start_writer(WRITER, tmp_path)
    assert child.stdout is not None
    acknowledged = [int(child.stdout.readline()) for _ in range(kill_after)]
    kill_9(child)

    json.loads((tmp_path / "messages.json").read_text())  # never half-written
    kept = asyncio.run(stored_ids(tmp_path))
    expected = {n for n in acknowledged if n % 3 != 2}  # every third deletes the one before
    assert expected <= kept


CHURN_WRITER = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from services.store import LogLimits, StoredMessage, LogStore

START = datetime(2026, 1, 1, tzinfo=UTC)

async def main() -> None:
    # Every member writes once, and old messages expire: rounds reclaim the index again and
    # again, with the snapshots, compactions and rotations around them.
    limits = LogLimits(segment_bytes=4_000, snapshot_every=20)
    store = LogStore(Path(sys.argv[1]), limits=limits)
    n = 0
    while True:
        n += 1
        await store.add(StoredMessage(n, 1, 1, n, "a", "x" * 50, START + timedelta(minutes=n)))
        print("added", n, flush=True)
        if n % 3 == 0:
            print("removing", n - 1, flush=True)
            await store.delete(n - 1)
            print("removed", n - 1, flush=True)
        if n % 10 == 0:
            print("expiring", n - 15, flush=True)
            await store.delete_older_than(START + timedelta(minutes=n - 15))
            print("expired", n - 15, flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("kill_after", [17, 44, 97])
def test_a_kill_9_around_index_reclaims_loses_nothing(tmp_path: Path, kill_after: int) -> None:
    child = start_writer(CHURN_WRITER, tmp_path)
    assert child.stdout is not None
    added: set[int] = set()
    removed: set[int] = set()
    in_flight: set[int] = set()  # a removal under way when the kill came may have happened
    expired_below = 0
    for _ in range(kill_after):
        event, value = child.stdout.readline().split()
        number = int(value)
        if event == "added":
            added.add(number)
        elif event == "removing":
            in_flight = {number}
        elif event == "removed":
            removed.add(number)
            in_flight = set()
        elif event == "expiring":
            in_flight = set(range(expired_below, number))
        else:
            expired_below, in_flight = number, set()
    kill_9(child)

    kept = asyncio.run(stored_ids(tmp_path))
    gone = removed | set(range(expired_below))
    assert added - gone - in_flight <= kept
    assert not kept & (gone - in_flight)


# -- the message log under the store ---------------------------------------------------------

SMALL = LogLimits(segment_bytes=2_000, snapshot_every=25)  # rotations and snapshots happen


def segment_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "messages").glob("*.log"))


async def test_a_torn_last_record_is_cut_off_on_open(tmp_path: Path) -> None:
    first = LogStore(tmp_path)
    for n in range(3):
        await first.add(message(n))
    await first.close()
    [segment] = segment_files(tmp_path)
    intact = segment.read_bytes()
    with segment.open("ab") as handle:  # what kill -9 in the middle of a write leaves
        handle.write(intact.splitlines(keepends=True)[-1][:-7])

    reopened = LogStore(tmp_path)
    try:
        assert [m.message_id for m in await reopened.last_in_channel(1, 10)] == [1000, 1001, 1002]
        await reopened.add(message(3))
        assert len(await reopened.last_in_channel(1, 10)) == 4
    finally:
        await reopened.close()
    assert segment.read_bytes().startswith(intact)
    assert len(segment.read_bytes().splitlines()) == 4


async def test_a_damaged_record_in_the_middle_is_skipped(tmp_path: Path) -> None:
    first = LogStore(tmp_path)
    for n in range(3):
        await first.add(message(n))
    await first.close()
    (tmp_path / "messages.json").write_text(
        json.dumps({**json.loads((tmp_path / "messages.json").read_text()), "index": None})
    )  # no snapshot: the log itself is read
    [segment] = segment_files(tmp_path)
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"message 1", b"massage 1")  # the checksum no longer matches
    segment.write_bytes(b"".join(lines))

    reopened = LogStore(tmp_path)
    try:
        assert [m.message_id for m in await reopened.last_in_channel(1, 10)] == [1000, 1002]
    finally:
        await reopened.close()


async def test_compaction_drops_removed_text_and_keeps_the_rest(tmp_path: Path) -> None:
    store = LogStore(tmp_path, limits=SMALL)
    for n in range(60):
        await store.add(message(n, author=100 + n % 3, channel=1 + n % 2))
    await store.edit(1001, "edited text", START + timedelta(hours=1))
    await store.delete(1004)
    assert await store.forget_author(GUILD, 102) == 20
    await store.close()  # waits for the purge the removals started

    on_disk = b"".join(path.read_bytes() for path in segment_files(tmp_path))
    assert b'"message 1"' not in on_disk  # the text before the edit
    assert b'"message 4"' not in on_disk
    assert b"member102" not in on_disk

    reopened = LogStore(tmp_path, limits=SMALL)
    try:
        kept = await reopened.last_in_channel(1, 100) + await reopened.last_in_channel(2, 100)
        expected = {1000 + n for n in range(60) if n % 3 != 2 and n != 4}
        assert {m.message_id for m in kept} == expected
        [edited] = [m for m in kept if m.message_id == 1001]
        assert edited.content == "edited text"
        assert await reopened.last_by_author(GUILD, 102, 30) == []
    finally:
        await reopened.close()


async def test_an_edit_takes_the_old_text_off_the_disk(tmp_path: Path) -> None:
    # Nothing else is removed: the old version alone must make its segment worth a purge.
    store = LogStore(tmp_path, limits=SMALL)
    for n in range(30):
        await store.add(message(n))
    await store.edit(1002, "replaced text", START + timedelta(hours=1))
    await store.close()
    on_disk = b"".join(path.read_bytes() for path in segment_files(tmp_path))
    assert b'"message 2"' not in on_disk
    assert b'"replaced text"' in on_disk
    assert b'"message 3"' in on_disk


async def test_tombstones_outlive_compaction_of_later_segments(tmp_path: Path) -> None:
    # The put is in the first segment, its tombstone in a later one that gets compacted:
    # the tombstone must stay, or the message would come back.
    store = LogStore(tmp_path, limits=SMALL)
    for n in range(40):
        await store.add(message(n))
    await store.delete(1000)
    for n in range(40, 80):
        await store.add(message(n))
    await store.delete(1050)
    await store.close()
    (tmp_path / "messages.json").write_text(
        json.dumps({**json.loads((tmp_path / "messages.json").read_text()), "index": None})
    )
    reopened = LogStore(tmp_path, limits=SMALL)
    try:
        ids = {m.message_id for m in await reopened.last_in_channel(1, 100)}
        assert 1000 not in ids
        assert 1050 not in ids
        assert len(ids) == 78
    finally:
        await reopened.close()


async def test_the_index_is_rebuilt_from_the_log_without_a_snapshot(tmp_path: Path) -> None:
    store = LogStore(tmp_path, limits=SMALL)
    for n in range(50):
        await store.add(message(n, author=100 + n % 4))
    await store.delete(1010)
    await store.close()
    for snapshot in (tmp_path / "messages").glob("index.*.bin"):
        snapshot.write_bytes(b"damaged")  # a snapshot that fails its checksum is ignored
    reopened = LogStore(tmp_path, limits=SMALL)
    try:
        assert len(await reopened.last_in_channel(1, 100)) == 49
        assert [m.message_id for m in await reopened.last_by_author(GUILD, 102, 3)] == [
            1038,
            1042,
            1046,
        ]
    finally:
        await reopened.close()


async def test_a_store_of_the_first_version_is_imported(tmp_path: Path) -> None:
    document = {
        "guild": GUILD,
        "channel": 1,
        "author": 100,
        "author_name": "member100",
        "content": "from the old file",
        "created_at": START.timestamp(),
        "from_bot": False,
        "edited_at": None,
    }
    (tmp_path / "messages.json").write_text(json.dumps({"messages": {"1234": document}}))
    store = LogStore(tmp_path)
    try:
        [imported] = await store.last_in_channel(1, 5)
        assert (imported.message_id, imported.content) == (1234, "from the old file")
    finally:
        await store.close()


async def test_indexes_agree_with_a_brute_force_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reclaims = count_reclaims(monkeypatch)
    rng = random.Random(3)
    store = LogStore(tmp_path, limits=SMALL)
    model: dict[int, StoredMessage] = {}
    try:
        for step in range(600):
            action = rng.random()
            if action < 0.6 or not model:
                n = rng.randrange(400)  # ids repeat (upserts) and arrive out of order
                added = message(n, channel=rng.randrange(1, 5), author=rng.randrange(100, 106))
                await store.add(added)
                model[added.message_id] = added
            elif action < 0.75:
                target = rng.choice(list(model))
                edited_at = START + timedelta(days=1, minutes=step)
                assert await store.edit(target, f"edit {step}", edited_at)
                model[target] = replace(model[target], content=f"edit {step}", edited_at=edited_at)
            elif action < 0.9:
                target = rng.choice(list(model))
                assert await store.delete(target)
                del model[target]
            elif action < 0.95:
                author = rng.randrange(100, 106)
                forgotten = [i for i, m in model.items() if m.author_id == author]
                assert await store.forget_author(GUILD, author) == len(forgotten)
                for message_id in forgotten:
                    del model[message_id]
            elif action < 0.97:
                cutoff = START + timedelta(minutes=rng.randrange(100))
                expired = [i for i, m in model.items() if m.created_at < cutoff]
                assert await store.delete_older_than(cutoff) == len(expired)
                for message_id in expired:
                    del model[message_id]
            else:
                await store.close()
                store = LogStore(tmp_path, limits=SMALL)
            await check_against(store, model, rng)
    finally:
        await store.close()
    assert reclaims[0] > 10  # the queries above ran across many renumberings


def count_reclaims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reclaims = [0]
    reclaim = MessageLog.reclaim_slots_if_due

    def counted(message_log: MessageLog) -> bool:
        done = reclaim(message_log)
        reclaims[0] += done
        return done

    monkeypatch.setattr(MessageLog, "reclaim_slots_if_due", counted)
    return reclaims


def index_of(data_dir: Path) -> tuple[int, int]:
    """(slots, live slots) of the index as the store's files give it."""
    message_log = MessageLog(data_dir, SMALL, import_document=dict)
    try:
        return message_log.index_figures()
    finally:
        message_log.close()


async def test_dead_index_slots_are_reclaimed(tmp_path: Path) -> None:
    store = LogStore(tmp_path, limits=SMALL)
    for n in range(300):
        await store.add(message(n, author=100 + n % 7, channel=1 + n % 3))
    for n in range(0, 300, 5):
        await store.edit(1000 + n, f"edit {n}", START + timedelta(days=1))
    for n in range(1, 300, 5):
        await store.delete(1000 + n)
    assert await store.delete_older_than(START + timedelta(minutes=100)) == 80
    before_forget = [1000 + n for n in range(100, 300) if n % 5 != 1]
    expected = {i for i in before_forget if (i - 1000) % 7 != 6}
    # The trigger, whatever the share of dead slots: a member with nothing left.
    assert await store.forget_author(GUILD, 106) == len(before_forget) - len(expected)
    await store.close()

    assert index_of(tmp_path) == (len(expected), len(expected))
    reopened = LogStore(tmp_path, limits=SMALL)
    try:
        kept = [m for c in (1, 2, 3) for m in await reopened.last_in_channel(c, 1000)]
        assert {m.message_id for m in kept} == expected
        assert [m.content for m in kept if m.message_id == 1105] == ["edit 105"]
        await reopened.add(message(400, author=106))  # a forgotten member may come back
        assert [m.message_id for m in await reopened.last_by_author(GUILD, 106, 5)] == [1400]
        assert len(await reopened.last_by_author(GUILD, 100, 1000)) == len(
            [i for i in expected if (i - 1000) % 7 == 0]
        )
    finally:
        await reopened.close()


async def test_a_snapshot_after_forget_holds_no_trace_of_the_member(tmp_path: Path) -> None:
    member = 987_654_321
    theirs = [  # ids whose bytes do not turn up by chance in the other columns
        replace(message(n, author=member), message_id=0x5EC2E7_0000_0000 + n) for n in range(20)
    ]
    store = LogStore(tmp_path, limits=SMALL)
    for n in range(40):
        await store.add(theirs[n // 2] if n % 2 == 0 else message(n))  # interleaved
    assert await store.forget_author(GUILD, member) == len(theirs)
    await store.close()

    [snapshot] = (tmp_path / "messages").glob("index.*.bin")
    header, _, columns = snapshot.read_bytes().partition(b"\n")
    assert str(member).encode() not in header
    for forgotten in theirs:
        assert struct.pack("=q", forgotten.message_id) not in columns
    assert struct.pack("=q", message(1).message_id) in columns  # the others' ids are there


async def check_against(
    store: LogStore, model: dict[int, StoredMessage], rng: random.Random
) -> None:
    ordered = sorted(model.values(), key=lambda m: m.message_id)
    channel = rng.randrange(1, 5)
    limit = rng.randrange(1, 40)
    in_channel = [m for m in ordered if m.channel_id == channel][-limit:]
    assert await store.last_in_channel(channel, limit) == in_channel
    author = rng.randrange(100, 106)
    by_author = [m for m in ordered if m.author_id == author][-limit:]
    assert await store.last_by_author(GUILD, author, limit) == by_author


def files_containing(directory: Path, needle: bytes) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


class ReversedBase64:
    """A test cipher: not secret at all, but no plaintext survives it."""

    def seal(self, plain: str) -> str:
        return base64.b64encode(plain.encode()).decode()[::-1]

    def open(self, sealed: str) -> str:
        return base64.b64decode(sealed[::-1]).decode()


async def test_a_cipher_keeps_plaintext_out_of_the_files(tmp_path: Path) -> None:
    secret = replace(message(1), author_name="Alice Plaintextname", content="the secretword")
    store = LogStore(tmp_path, cipher=ReversedBase64(), limits=SMALL)
    await store.add(secret)
    await store.add(replace(message(2), content="another secretword"))
    await store.edit(1002, "edited secretword", START + timedelta(hours=1))
    await store.put_state("persona", "100", {"style": "playful secretword"})
    await store.close()

    assert files_containing(tmp_path, b"secretword") == []
    assert files_containing(tmp_path, b"Plaintextname") == []

    reopened = LogStore(tmp_path, cipher=ReversedBase64(), limits=SMALL)
    try:
        first, second = await reopened.last_in_channel(1, 5)
        assert first == secret
        assert second.content == "edited secretword"
        assert await reopened.get_state("persona", "100") == {"style": "playful secretword"}
    finally:
        await reopened.close()


FORGET_THEN_CRASH = """
import asyncio, os, sys
from datetime import UTC, datetime
from pathlib import Path
from services.store import StoredMessage, LogStore

async def main() -> None:
    store = LogStore(Path(sys.argv[1]))
    for n in range(20):
        author = 5 if n % 2 else 6
        await store.add(StoredMessage(n + 1, 1, 1, author, "x", f"secret{author}-{n}",
                                      datetime.now(UTC)))
    await store.forget_author(1, 5)
    os._exit(0)  # a crash before the background purge could run

asyncio.run(main())
"""


def test_a_purge_cut_short_by_a_crash_is_finished_after_restart(tmp_path: Path) -> None:
    crashed = start_writer(FORGET_THEN_CRASH, tmp_path)
    crashed.communicate()
    assert crashed.returncode == 0
    assert b"secret5-" in files_bytes(tmp_path)  # forgotten, but the text is still on disk
    asyncio.run(add_one_and_close(tmp_path))
    assert b"secret5-" not in files_bytes(tmp_path)
    assert b"secret6-" in files_bytes(tmp_path)


async def add_one_and_close(data_dir: Path) -> None:
    store = LogStore(data_dir)
    try:
        assert await store.last_by_author(1, 5, 10) == []
        await store.add(StoredMessage(100, 1, 1, 6, "x", "after restart", datetime.now(UTC)))
    finally:
        await store.close()  # waits for the maintenance the reopen started


def files_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())
