"""What only the embedded `LogStore` does: its files, its crash safety, compaction, index
snapshots and reclaims, encryption at rest, and the upgrade of a previous version's data.
What every store does is in the contract suite (`tests/store_contract.py`)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import struct
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.store import Arrival, LogLimits, LogStore, StoredMessage
from services.store.message_log import MessageLog, RecentIds, decode_record
from services.store.model import ContentCipher
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
        for kind in ("../escape", "channel_count"):  # the counts live in the log now
            with pytest.raises(ValueError, match="not a state kind"):
                await store.get_state(kind, "1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="_key"):
            await store.put_state("persona", "1", {"_key": "2"})
    finally:
        await store.close()


# -- the beat count rides in the message's record --------------------------------------------


def records(data_dir: Path) -> list[dict[str, Any]]:
    """Every record of the segment files, in order."""
    found = []
    for path in segment_files(data_dir):
        for line in path.read_bytes().splitlines(keepends=True):
            record = decode_record(line)
            assert record is not None
            found.append(record)
    return found


async def test_a_counted_message_and_its_count_are_one_record(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    try:
        await store.add(message(1), counted=True)
        await store.add(message(2), counted=False)
        await store.count(1, 1003)  # an opted-out author: nothing of theirs is kept
        await store.add(message(1), counted=True)  # a replay: nothing written, not counted
    finally:
        await store.close()
    first, second, alone = records(tmp_path)
    assert (first["put"], first["beat"], first["doc"]["content"]) == (1001, 1, "message 1")
    assert "beat" not in second
    # No author, no text: the channel's count, and the id, so that a replay is known.
    assert alone == {"beat": [1, 2], "of": 1003}


async def test_one_fdatasync_per_message_and_concurrent_adds_share_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = count_fdatasyncs(monkeypatch)
    store = LogStore(tmp_path)
    try:
        await store.channel_count(1)  # opens the log
        syncs[0] = 0
        for n in range(10):
            await store.add(message(n), counted=True)
        assert syncs[0] == 10
        arrivals = await asyncio.gather(
            *(store.add(message(n), counted=True) for n in range(10, 30)),
            store.count(1, 5000),
        )
        assert [a.count for a in arrivals] == list(range(11, 32))
        assert syncs[0] <= 12  # 21 writes, one batch or two
    finally:
        await store.close()


def count_fdatasyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    syncs = [0]
    fdatasync = os.fdatasync

    def counted(fd: int) -> None:
        syncs[0] += 1
        fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    return syncs


async def test_writes_take_effect_in_call_order(store: LogStore) -> None:
    # An edit or a delete that arrives while its message is still being stored finds it.
    results = await asyncio.gather(
        store.add(message(1), counted=True),
        store.edit(1001, "changed", START + timedelta(hours=1)),
        store.add(message(2), counted=True),
        store.delete(1002),
    )
    assert list(results) == [Arrival(True, 1), True, Arrival(True, 2), True]
    [kept] = await store.last_in_channel(1, 10)
    assert kept.content == "changed"


def test_replays_are_recognised_among_the_last_counted_ids() -> None:
    recent = RecentIds(3)
    for message_id in (1, 2, 3, 2, 4):  # a repeat neither grows it nor renews it
        recent.add(message_id)
    assert [message_id in recent for message_id in (1, 2, 3, 4)] == [False, True, True, True]


def drop_snapshot(data_dir: Path) -> None:
    """Make the next open rebuild everything from the log itself."""
    manifest = json.loads((data_dir / "messages.json").read_text())
    (data_dir / "messages.json").write_text(json.dumps({**manifest, "index": None}))


async def counts_of(data_dir: Path, channels: list[int], **options: Any) -> list[int]:
    reopened = LogStore(data_dir, **options)
    try:
        return [await reopened.channel_count(channel) for channel in channels]
    finally:
        await reopened.close()


async def test_counts_outlive_the_records_that_carried_them(tmp_path: Path) -> None:
    store = LogStore(tmp_path, limits=SMALL)
    for n in range(90):
        if n % 7 == 3:
            await store.count(1, 5000 + n)
        else:
            await store.add(message(n, channel=1 + n % 2, author=100 + n % 3), counted=True)
    await store.edit(1001, "edited", START + timedelta(hours=1))
    await store.delete(1002)
    await store.forget_author(GUILD, 101)
    assert await store.delete_older_than(START + timedelta(days=1)) > 0  # all the rest
    expected = [await store.channel_count(channel) for channel in (1, 2)]
    assert sum(expected) == 90
    await store.close()  # the purge compacts every segment: no put record is left

    assert not [r for r in records(tmp_path) if "put" in r]
    assert b"message " not in b"".join(p.read_bytes() for p in segment_files(tmp_path))
    assert await counts_of(tmp_path, [1, 2], limits=SMALL) == expected
    drop_snapshot(tmp_path)
    assert await counts_of(tmp_path, [1, 2], limits=SMALL) == expected


async def test_counts_alone_are_known_after_a_restart(tmp_path: Path) -> None:
    """An opted-out member's message is only counted; the catch-up after a restart reads it
    back from Discord, and it must not count again: the snapshot keeps the recent counted ids,
    and a log read without one knows those of the records it still has."""
    store = LogStore(tmp_path, limits=SMALL)
    try:
        for n in range(60):  # rotations, compactions and snapshots on the way
            assert await store.count(1, 7000 + n) == Arrival(True, n + 1)
    finally:
        await store.close()
    reopened = LogStore(tmp_path, limits=SMALL)
    try:
        for n in range(60):
            assert await reopened.count(1, 7000 + n) == Arrival(False, None), n
        assert await reopened.channel_count(1) == 60
    finally:
        await reopened.close()
    drop_snapshot(tmp_path)
    rebuilt = LogStore(tmp_path, limits=SMALL)
    try:
        assert await rebuilt.count(1, 7059) == Arrival(False, None)
        assert await rebuilt.channel_count(1) == 60
    finally:
        await rebuilt.close()


async def test_superseded_count_records_are_compacted_away(tmp_path: Path) -> None:
    store = LogStore(tmp_path, limits=SMALL)
    try:
        for n in range(400):
            assert await store.count(1 + n % 2, n) == Arrival(True, n // 2 + 1)
    finally:
        await store.close()
    segments = len(segment_files(tmp_path))
    assert segments > 5
    assert len(records(tmp_path)) < 400 // 2  # compactions kept each segment's last count
    assert await counts_of(tmp_path, [1, 2], limits=SMALL) == [200, 200]
    drop_snapshot(tmp_path)
    assert await counts_of(tmp_path, [1, 2], limits=SMALL) == [200, 200]


# -- the upgrade from the counts in state/channel_count.json --------------------------------


def write_legacy_counts(
    data_dir: Path, counts: dict[int, int], cipher: ContentCipher | None = None
) -> Path:
    """state/channel_count.json as the previous version wrote it (TinyDB documents)."""
    documents = {}
    for number, (channel, count) in enumerate(counts.items(), start=1):
        fields = {"count": count}
        stored = {"sealed": cipher.seal(json.dumps(fields))} if cipher else fields
        documents[str(number)] = {**stored, "_key": str(channel)}
    path = data_dir / "state" / "channel_count.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"documents": documents}))
    return path


async def test_the_counts_of_a_previous_version_are_imported(tmp_path: Path) -> None:
    legacy = write_legacy_counts(tmp_path, {1: 41, 2: 7})
    store = LogStore(tmp_path)
    try:
        assert await store.channel_count(1) == 41
        assert await store.channel_count(2) == 7
        assert (await store.add(message(1), counted=True)).count == 42
        assert not legacy.exists()  # imported durably, then removed
    finally:
        await store.close()
    assert await counts_of(tmp_path, [1, 2]) == [42, 7]
    drop_snapshot(tmp_path)
    assert await counts_of(tmp_path, [1, 2]) == [42, 7]


async def test_an_import_keeps_the_higher_count_and_is_done_once(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    for n in range(10):
        await store.add(message(n, channel=2), counted=True)
    await store.close()
    write_legacy_counts(tmp_path, {1: 3, 2: 7})  # channel 2 counted further in the log
    assert await counts_of(tmp_path, [1, 2]) == [3, 10]
    # A crash after the import but before the file was removed: importing again is harmless.
    write_legacy_counts(tmp_path, {1: 3, 2: 7})
    assert await counts_of(tmp_path, [1, 2]) == [3, 10]


async def test_sealed_counts_of_a_previous_version_are_imported(tmp_path: Path) -> None:
    write_legacy_counts(tmp_path, {5: 12}, cipher=ReversedBase64())
    assert b'"count"' not in (tmp_path / "state" / "channel_count.json").read_bytes()
    assert await counts_of(tmp_path, [5], cipher=ReversedBase64()) == [12]


async def test_a_snapshot_of_the_previous_version_opens(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    for n in range(5):
        await store.add(message(n), counted=False)
    await store.close()
    [snapshot] = (tmp_path / "messages").glob("index.*.bin")
    header_line, _, blob = snapshot.read_bytes().partition(b"\n")
    header = json.loads(header_line)
    del header["counts"]  # what a snapshot looked like before the counts were in the log
    for segment in header["segments"]:
        del segment["beats"], segment["stale_bytes"]
    snapshot.write_bytes(json.dumps(header).encode() + b"\n" + blob)
    reopened = LogStore(tmp_path)
    try:
        assert len(await reopened.last_in_channel(1, 10)) == 5
        assert (await reopened.add(message(9), counted=True)).count == 1
    finally:
        await reopened.close()


# -- kill -9 ---------------------------------------------------------------------------------

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
        if n % 4 == 0:  # an opted-out author: counted, not kept
            arrival = await store.count(1, n)
        else:
            message = StoredMessage(n, 1, 1, 2, "a", "x" * 50, datetime.now(UTC))
            arrival = await store.add(message, counted=True)
        if n % 3 == 0:
            await store.delete(n - 1)  # a write that makes the file shorter
        print(n, arrival.count, flush=True)

asyncio.run(main())
"""


async def stored_ids_and_count(data_dir: Path, **options: Any) -> tuple[set[int], int]:
    """What a reopened store holds of channel 1; it then counts one more message."""
    reopened = LogStore(data_dir, **options)
    try:
        kept = {m.message_id for m in await reopened.last_in_channel(1, 10_000)}
        count = await reopened.channel_count(1)
        after = StoredMessage(10**9, 1, 1, 2, "a", "after", datetime.now(UTC))
        assert (await reopened.add(after, counted=True)).count == count + 1  # carries on
        return kept, count
    finally:
        await reopened.close()


def lines_until_killed(child: subprocess.Popen[str], at_least: int) -> list[list[str]]:
    """Read `at_least` lines of the writer, kill -9 it, and return every line it printed
    before it died (each one an acknowledged step), split into words."""
    assert child.stdout is not None
    fd = os.dup(child.stdout.fileno())  # read here, unbuffered: kill_9 closes child.stdout
    try:
        printed = b""
        while printed.count(b"\n") < at_least and (chunk := os.read(fd, 1 << 16)):
            printed += chunk
        kill_9(child)
        while chunk := os.read(fd, 1 << 16):  # what it printed before the kill landed
            printed += chunk
    finally:
        os.close(fd)
    return [
        line.split() for line in printed.decode().splitlines(keepends=True) if line[-1:] == "\n"
    ]


def check_counts(acknowledged: list[int], count: int) -> None:
    """Acknowledged counts are 1, 2, 3...; after the kill the count is the last of them, or
    one more (the write under way may have reached the disk): none lost, none twice."""
    assert acknowledged == list(range(1, len(acknowledged) + 1))
    assert count in (len(acknowledged), len(acknowledged) + 1)


@pytest.mark.parametrize("kill_after", [5, 23, 61])
def test_acknowledged_messages_and_counts_survive_kill_9(tmp_path: Path, kill_after: int) -> None:
    lines = lines_until_killed(start_writer(WRITER, tmp_path), kill_after)

    json.loads((tmp_path / "messages.json").read_text())  # never half-written
    kept, count = asyncio.run(stored_ids_and_count(tmp_path))
    acknowledged = [int(n) for n, _count in lines]
    # Every third deletes the one before; every fourth was only counted.
    expected = {n for n in acknowledged if n % 3 != 2 and n % 4 != 0}
    assert expected <= kept
    assert not {n for n in acknowledged if n % 4 == 0} & kept
    check_counts([int(c) for _n, c in lines], count)


CHURN_WRITER = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from services.store import LogLimits, StoredMessage, LogStore

START = datetime(2026, 1, 1, tzinfo=UTC)

async def main() -> None:
    # Every member writes once, and old messages expire: rounds reclaim the index again and
    # again, with the snapshots, compactions and rotations around them, and compactions drop
    # the records that carried the counts.
    limits = LogLimits(segment_bytes=4_000, snapshot_every=20)
    store = LogStore(Path(sys.argv[1]), limits=limits)
    n = 0
    while True:
        n += 1
        if n % 5 == 0:
            arrival = await store.count(1, n)
            print("counted", n, arrival.count, flush=True)
        else:
            message = StoredMessage(n, 1, 1, n, "a", "x" * 50, START + timedelta(minutes=n))
            arrival = await store.add(message, counted=True)
            print("added", n, arrival.count, flush=True)
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


@pytest.mark.parametrize("kill_after", [17, 44, 97, 263])
def test_a_kill_9_around_index_reclaims_loses_nothing(tmp_path: Path, kill_after: int) -> None:
    added: set[int] = set()
    removed: set[int] = set()
    counts: list[int] = []
    in_flight: set[int] = set()  # a removal under way when the kill came may have happened
    expired_below = 0
    for event, value, *count_field in lines_until_killed(
        start_writer(CHURN_WRITER, tmp_path), kill_after
    ):
        number = int(value)
        if event in ("added", "counted"):
            counts.append(int(count_field[0]))
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

    kept, count = asyncio.run(stored_ids_and_count(tmp_path))
    gone = removed | set(range(expired_below))
    assert added - gone - in_flight <= kept
    assert not kept & (gone - in_flight)
    check_counts(counts, count)


# -- the message log under the store ---------------------------------------------------------

SMALL = LogLimits(segment_bytes=2_000, snapshot_every=25)  # rotations and snapshots happen


def segment_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "messages").glob("*.log"))


async def test_a_torn_last_record_is_cut_off_on_open(tmp_path: Path) -> None:
    first = LogStore(tmp_path)
    for n in range(3):
        await first.add(message(n), counted=True)
    await first.close()
    [segment] = segment_files(tmp_path)
    intact = segment.read_bytes()
    with segment.open("ab") as handle:  # what kill -9 in the middle of a write leaves
        handle.write(intact.splitlines(keepends=True)[-1][:-7])

    reopened = LogStore(tmp_path)
    try:
        assert [m.message_id for m in await reopened.last_in_channel(1, 10)] == [1000, 1001, 1002]
        await reopened.add(message(3), counted=True)
        assert len(await reopened.last_in_channel(1, 10)) == 4
    finally:
        await reopened.close()
    assert segment.read_bytes().startswith(intact)
    assert len(segment.read_bytes().splitlines()) == 4


async def test_a_damaged_record_in_the_middle_is_skipped(tmp_path: Path) -> None:
    first = LogStore(tmp_path)
    for n in range(3):
        await first.add(message(n), counted=True)
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
        await store.add(message(n, author=100 + n % 3, channel=1 + n % 2), counted=True)
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
        await store.add(message(n), counted=True)
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
        await store.add(message(n), counted=True)
    await store.delete(1000)
    for n in range(40, 80):
        await store.add(message(n), counted=True)
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
        await store.add(message(n, author=100 + n % 4), counted=True)
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


def put_record(message_id: int, channel: int) -> dict[str, Any]:
    document = {
        "guild": GUILD,
        "channel": channel,
        "author": 100,
        "author_name": "member100",
        "content": f"message {message_id}",
        "created_at": START.timestamp(),
        "from_bot": False,
        "edited_at": None,
    }
    return {"put": message_id, "doc": document}


def test_a_snapshot_holds_the_log_as_it_was_frozen(tmp_path: Path) -> None:
    # The snapshot is written outside the lock: what is appended meanwhile (a channel seen
    # for the first time, a tombstone) belongs to the replay after it, not to the snapshot.
    message_log = MessageLog(tmp_path, SMALL, import_document=dict)
    message_log.append(put_record(1, channel=1))
    message_log.append(put_record(3, channel=1))
    snapshot = message_log.prepare_snapshot()
    message_log.append(put_record(2, channel=2))
    message_log.append({"del": 1})
    message_log.write_snapshot(snapshot)
    message_log.commit_snapshot(snapshot)
    message_log.close()

    reopened = MessageLog(tmp_path, SMALL, import_document=dict)
    try:
        assert [i for i, _doc in reopened.last_of_channel(1, 10)] == [3]
        assert [i for i, _doc in reopened.last_of_channel(2, 10)] == [2]
        assert reopened.index_figures() == (3, 2)
    finally:
        reopened.close()


async def test_a_snapshot_that_contradicts_itself_is_rebuilt_from_the_log(
    tmp_path: Path,
) -> None:
    # What the previous version could write when a new channel came during a snapshot.
    store = LogStore(tmp_path)
    await store.add(message(1, channel=1), counted=True)
    await store.add(message(2, channel=2), counted=True)
    await store.close()
    [snapshot] = (tmp_path / "messages").glob("index.*.bin")
    header_line, _, blob = snapshot.read_bytes().partition(b"\n")
    header = json.loads(header_line)
    header["index"]["channels"].append(3)
    snapshot.write_bytes(json.dumps(header).encode() + b"\n" + blob)
    reopened = LogStore(tmp_path)
    try:
        assert await reopened.add(message(3, channel=3), counted=True) == Arrival(True, 1)
        assert [m.message_id for m in await reopened.last_in_channel(3, 5)] == [1003]
        assert [await reopened.channel_count(c) for c in (1, 2, 3)] == [1, 1, 1]
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


async def test_indexes_and_counts_agree_with_a_brute_force_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reclaims = count_reclaims(monkeypatch)
    rng = random.Random(3)
    store = LogStore(tmp_path, limits=SMALL)
    model: dict[int, StoredMessage] = {}
    counts: dict[int, int] = {}
    counted_ids: set[int] = set()  # what the store remembers counting
    alone_ids: set[int] = set()  # the counts alone among them
    # A message keeps its channel and author, as on Discord: a log rebuilt without its
    # snapshot relies on it (a forget or an expiry removes every version of a message).
    places = [(rng.randrange(1, 5), rng.randrange(100, 106)) for _ in range(400)]

    def bump(channel: int, message_id: int) -> Arrival:
        counted_ids.add(message_id)
        counts[channel] = counts.get(channel, 0) + 1
        return Arrival(True, counts[channel])

    try:
        for step in range(700):
            action = rng.random()
            if action < 0.55 or not model:
                n = rng.randrange(400)  # ids repeat (replays) and arrive out of order
                channel, author = places[n]
                added = message(n, channel=channel, author=author)
                counted = rng.random() < 0.9
                new = added.message_id not in model
                expected = Arrival(new, None)
                if counted and new and added.message_id not in counted_ids:
                    expected = bump(added.channel_id, added.message_id)
                assert await store.add(added, counted=counted) == expected
                if new:  # a replay changes nothing
                    model[added.message_id] = added
            elif action < 0.6:
                channel, message_id = rng.randrange(1, 5), 50_000 + rng.randrange(60)
                expected = Arrival(False, None)
                if message_id not in counted_ids:
                    expected = bump(channel, message_id)
                    alone_ids.add(message_id)
                assert await store.count(channel, message_id) == expected
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
                if rng.random() < 0.5:
                    drop_snapshot(tmp_path)  # the next open reads the compacted log alone
                    # It knows the counted ids of the records compaction left, no others.
                    found = records(tmp_path)
                    counted_ids = counted_ids_in(found)
                    alone_ids &= {r["of"] for r in found if "of" in r}
                else:  # the snapshot (closing wrote one) keeps the counts alone only
                    counted_ids = set(alone_ids)
                store = LogStore(tmp_path, limits=SMALL)
            await check_against(store, model, rng)
            for channel in range(1, 5):
                assert await store.channel_count(channel) == counts.get(channel, 0)
    finally:
        await store.close()
    assert reclaims[0] > 10  # the queries above ran across many renumberings
    final = await counts_of(tmp_path, [1, 2, 3, 4], limits=SMALL)
    assert final == [counts.get(c, 0) for c in (1, 2, 3, 4)]


def counted_ids_in(found: list[dict[str, Any]]) -> set[int]:
    """The ids that records carrying a count name: a counted put's, a count alone's."""
    return {r["put"] for r in found if "put" in r and "beat" in r} | {
        r["of"] for r in found if "of" in r
    }


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
        await store.add(message(n, author=100 + n % 7, channel=1 + n % 3), counted=True)
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
        # A forgotten member may come back.
        await reopened.add(message(400, author=106), counted=True)
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
        await store.add(theirs[n // 2] if n % 2 == 0 else message(n), counted=True)  # interleaved
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
    await store.add(secret, counted=True)
    await store.add(replace(message(2), content="another secretword"), counted=True)
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
        sent = StoredMessage(n + 1, 1, 1, author, "x", f"secret{author}-{n}", datetime.now(UTC))
        await store.add(sent, counted=True)
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
        after = StoredMessage(100, 1, 1, 6, "x", "after restart", datetime.now(UTC))
        await store.add(after, counted=True)
    finally:
        await store.close()  # waits for the maintenance the reopen started


def files_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())
