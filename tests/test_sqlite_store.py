"""What only the embedded `SqliteStore` does: its files, deleted text leaving the disk, loud
failures, refusing a file that is not its own, surviving kill -9, and importing the data
directory of the release before it. (What every store does is in tests/store_contract.py.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from services.privacy.encryption import FernetCipher
from services.store import Arrival, SqliteStore, StoredMessage, StoreFileError, StoreWriteError
from services.store.sqlite import DATABASE_FILE
from tests.harness import PROJECT_ROOT

GUILD = 10
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def message(n: int, *, channel: int = 1, author: int = 100, content: str = "") -> StoredMessage:
    return StoredMessage(
        message_id=1000 + n,
        guild_id=GUILD,
        channel_id=channel,
        author_id=author,
        author_name=f"member{author}",
        content=content or f"message {n}",
        created_at=START + timedelta(minutes=n),
    )


def every_file_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in data_dir.rglob("*") if path.is_file())


def wal_size(data_dir: Path) -> int:
    wal = data_dir / (DATABASE_FILE + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def names_in(data_dir: Path, pattern: str = "*") -> list[str]:
    """The names of what `data_dir` holds, at every depth (a few files: no need for a thread)."""
    return sorted(path.name for path in data_dir.rglob(pattern))


async def test_messages_and_members_in_one_file_servers_in_their_own(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    try:
        await store.add(message(1), counted=True)
        await store.put_state("persona", f"{GUILD}:100", {"style": "brisk"})
        await store.put_state("guild_settings", str(GUILD), {"temperature": 0.4})
        names = set(names_in(tmp_path))
        assert DATABASE_FILE in names
        assert not names & {"messages", "messages.json", "state"}
        server_file = tmp_path / "servers" / f"{GUILD}.json"
        assert json.loads(server_file.read_text())["guild_settings"]["1"] == {"temperature": 0.4}
        assert b"brisk" not in server_file.read_bytes()  # a member's document is not the server's
        assert await store.delete_state("guild_settings", str(GUILD))
        assert not server_file.exists()  # nothing of the server left: nor its file
        with pytest.raises(ValueError, match="guild id"):
            await store.put_state("music_queue", "../elsewhere", {"tracks": []})
    finally:
        await store.close()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_removed_text_leaves_every_file(tmp_path: Path, encrypted: bool) -> None:
    cipher = FernetCipher(Fernet.generate_key().decode()) if encrypted else None
    store = SqliteStore(tmp_path, cipher=cipher)
    try:
        for n in range(200):
            await store.add(message(n, author=100 + n % 3), counted=True)
        await store.add(message(300, content="deleted-zebra-text"), counted=True)
        await store.add(message(301, content="edited-okapi-text"), counted=True)
        await store.add(message(302, author=7, content="forgotten-quokka-text"), counted=True)
        await store.put_state("persona", f"{GUILD}:7", {"style": "profile-narwhal-text"})
        assert await store.delete(1300)
        assert await store.edit(1301, "now something else", START + timedelta(days=1))
        assert await store.forget_author(GUILD, 7) == 1
        assert await store.delete_state("persona", f"{GUILD}:7")
        # While the store is still open: each removal checkpointed before it returned.
        found = every_file_bytes(tmp_path)
        wal_size = (tmp_path / (DATABASE_FILE + "-wal")).stat().st_size
    finally:
        await store.close()
    for text in (b"deleted-zebra", b"edited-okapi", b"forgotten-quokka", b"profile-narwhal"):
        assert text not in found
    assert wal_size == 0


async def test_deletes_keep_open_files_and_files_constant(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    try:
        for n in range(600):
            await store.add(message(n), counted=True)
        # A removal checkpoints the WAL into the file, so the file's size counts every message.
        assert not await store.delete(999_999)
        open_before = len(os.listdir("/proc/self/fd"))
        files_before = names_in(tmp_path)
        size_before = (tmp_path / DATABASE_FILE).stat().st_size
        for n in range(0, 600, 2):
            await store.delete(1000 + n)
        for n in range(1, 100, 2):
            await store.edit(1000 + n, f"edit {n}", START + timedelta(days=1))
        assert len(os.listdir("/proc/self/fd")) == open_before
        assert names_in(tmp_path) == files_before
        assert (tmp_path / DATABASE_FILE).stat().st_size <= size_before
    finally:
        await store.close()


async def test_a_failed_commit_fails_its_whole_group_and_keeps_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    problems: list[str | None] = []
    store = SqliteStore(tmp_path, on_write_problem=problems.append)
    try:
        for n in range(5):
            await store.add(message(n), counted=True)
        pages = await store._write(lambda c: c.execute("PRAGMA page_count").fetchall()[0][0])
        # The file may grow no more: SQLite answers SQLITE_FULL, as on a full disk.
        await store._write(lambda c: c.execute(f"PRAGMA max_page_count = {pages}").fetchall())
        big = "x" * 200_000
        with caplog.at_level(logging.WARNING, logger="services.store.sqlite"):
            outcomes = await asyncio.gather(
                *(store.add(message(10 + n, content=big), counted=True) for n in range(6)),
                return_exceptions=True,
            )
            assert all(isinstance(outcome, StoreWriteError) for outcome in outcomes), outcomes
            assert [m.message_id for m in await store.last_in_channel(1, 50)] == list(
                range(1000, 1005)
            )
            assert await store.channel_count(1) == 5  # no count moved for what was not stored
            await store._write(lambda c: c.execute("PRAGMA max_page_count = 1000000").fetchall())
            assert (await store.add(message(20), counted=True)).count == 6
        lines = [r.getMessage() for r in caplog.records if r.name == "services.store.sqlite"]
        assert len([line for line in lines if "are failing" in line]) == 1  # once per outage
        assert len([line for line in lines if "work again" in line]) == 1
        await asyncio.sleep(0)  # the callback is scheduled on the loop
        assert len(problems) == 2 and problems[0] and problems[1] is None
    finally:
        await store.close()


async def test_a_file_that_is_not_ours_or_is_damaged_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / DATABASE_FILE).write_bytes(b"this is not a database at all" * 200)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    other = sqlite3.connect(foreign / DATABASE_FILE)
    other.execute("CREATE TABLE accounts (id INTEGER)")
    other.commit()
    other.close()
    for data_dir, expected in ((garbage, "not a SQLite database"), (foreign, "not this bot's")):
        store = SqliteStore(data_dir)
        with pytest.raises(StoreFileError, match=expected) as raised:
            await store.open()
        await store.close()
        assert str(data_dir / DATABASE_FILE) in str(raised.value)
        assert "\n" not in str(raised.value)


async def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.open()
    await store._write(lambda c: c.execute("INSERT INTO schema_migrations VALUES (9999, 0)"))
    await store.close()
    reopened = SqliteStore(tmp_path)
    with pytest.raises(StoreFileError, match="newer than this release"):
        await reopened.open()
    await reopened.close()


# -- kill -9 -------------------------------------------------------------------------------

WRITER = """
import asyncio, sys
from datetime import UTC, datetime
from pathlib import Path
from services.store import SqliteStore, StoredMessage

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]))
    n = int(sys.argv[2])
    while True:
        message = StoredMessage(n, 10, 1 + n % 3, 100, "m", f"text {n}", datetime.now(UTC))
        arrival = await store.add(message, counted=True)
        print("added", n, arrival.count, flush=True)
        if n % 4 == 3:
            await store.delete(n - 2)
            print("deleted", n - 2, flush=True)
        n += 1

asyncio.run(main())
"""


async def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    acknowledged: set[int] = set()
    deleted: set[int] = set()
    counts: dict[int, int] = {}
    in_flight: set[int] = set()  # a delete the writer may have made after its last line read
    start = 1
    for _ in range(3):
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, str(tmp_path), str(start),
            cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert writer.stdout is not None
        lines = 0
        while lines < 150:  # then kill it mid-stream
            line = (await writer.stdout.readline()).decode().split()
            lines += 1
            if line[0] == "added":
                n, count = int(line[1]), int(line[2])
                acknowledged.add(n)
                counts[1 + n % 3] = count
                start = n + 1
            else:
                deleted.add(int(line[1]))
        if line[0] == "added" and int(line[1]) % 4 == 3:
            in_flight.add(int(line[1]) - 2)
        writer.send_signal(signal.SIGKILL)
        await writer.wait()
        start += 10  # ids the killed writer may have been writing are not reused
    store = SqliteStore(tmp_path)
    try:
        kept = {m.message_id for c in (1, 2, 3) for m in await store.last_in_channel(c, 10_000)}
        assert acknowledged - deleted - in_flight <= kept
        assert not kept & deleted
        for channel, count in counts.items():  # nothing acknowledged was counted twice or lost
            assert await store.channel_count(channel) >= count
            stored_in_channel = len([n for n in kept | deleted if 1 + n % 3 == channel])
            assert await store.channel_count(channel) <= stored_in_channel + 3
    finally:
        await store.close()


# -- importing the release before ------------------------------------------------------------


def _line(record: dict[str, Any]) -> bytes:
    payload = json.dumps(record, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _doc(n: int, *, author: int = 100, channel: int = 1, content: str = "") -> dict[str, Any]:
    return {
        "guild": GUILD,
        "channel": channel,
        "author": author,
        "author_name": f"member{author}",
        "content": content or f"old message {n}",
        "created_at": (START + timedelta(minutes=n)).timestamp(),
        "from_bot": False,
        "edited_at": None,
    }


def write_old_data_dir(data_dir: Path, *, messages: int = 40) -> None:
    """A data directory as the message-log release left it: two segments, a snapshot header,
    an edit, a delete, a forget, an expiry, a count alone, a torn tail, and TinyDB state."""
    (data_dir / "messages").mkdir(parents=True)
    (data_dir / "state").mkdir()
    first = [
        _line({"put": 1000 + n, "doc": _doc(n, author=100 + n % 2), "beat": n + 1})
        for n in range(messages)
    ]
    first.append(_line({"beat": [1, messages + 1], "of": 5000}))  # an opted-out member's
    second = [
        _line(
            {"put": 1003, "doc": {**_doc(3, author=101), "content": "edited", "edited_at": 1.8e9}}
        ),
        _line({"del": 1004}),
        _line({"forget": [GUILD, 100]}),  # every even message so far
        _line({"expire": (START + timedelta(minutes=2)).timestamp()}),  # removes 1001
        _line({"put": 2000, "doc": _doc(100, author=100), "beat": messages + 2}),
    ]
    (data_dir / "messages" / "000001.0.log").write_bytes(b"".join(first))
    torn = _line({"put": 2001, "doc": _doc(101)})[:-7]  # never acknowledged
    (data_dir / "messages" / "000002.1.log").write_bytes(b"".join(second) + torn)
    header = {"counts": [[1, 3]], "counted_alone": [5001], "crc": 0, "index": {}}
    (data_dir / "messages" / "index.3.bin").write_bytes(json.dumps(header).encode() + b"\n\0\1")
    manifest = {
        "format": "discord-azure-bot/message-log/1",
        "segments": [[1, 0], [2, 1]],
        "index": "index.3.bin",
    }
    (data_dir / "messages.json").write_text(json.dumps(manifest))
    tables = {
        "persona": {"1": {"_key": f"{GUILD}:101", "v": 1, "style": "terse"}},
        "guild_settings": {"1": {"_key": str(GUILD), "v": 1, "temperature": 0.3}},
        "channel_count": {"1": {"_key": "7", "count": 12}},
    }
    for kind, documents in tables.items():
        (data_dir / "state" / f"{kind}.json").write_text(json.dumps({"documents": documents}))


async def expect_imported(data_dir: Path, *, messages: int = 40) -> None:
    store = SqliteStore(data_dir)
    try:
        kept = await store.last_in_channel(1, 10**6)
        odd_kept = [1000 + n for n in range(3, messages, 2) if n != 3]
        assert [m.message_id for m in kept] == sorted([1003, *odd_kept, 2000])
        edited = next(m for m in kept if m.message_id == 1003)
        assert edited.content == "edited" and edited.edited_at is not None
        [late] = [m for m in kept if m.message_id == 2000]
        assert late.created_at == START + timedelta(minutes=100)
        assert await store.channel_count(1) == messages + 2
        assert await store.channel_count(7) == 12  # from the oldest release's count file
        assert await store.get_state("persona", f"{GUILD}:101") == {"v": 1, "style": "terse"}
        assert await store.get_state("guild_settings", str(GUILD)) == {"v": 1, "temperature": 0.3}
        # Ids counted before the import are not counted again when Discord replays them.
        assert (await store.count(1, 5000)).count is None
        assert (await store.count(1, 5001)).count is None
        # 1004 was counted, then deleted: stored again, it is not counted again.
        assert await store.add(message(4, channel=1), counted=True) == Arrival(new=True, count=None)
        assert await store.delete(1004)  # as it was, for the next start's check
    finally:
        await store.close()


async def test_an_older_data_directory_is_imported_and_kept_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_old_data_dir(tmp_path)
    with caplog.at_level(logging.INFO, logger="services.store.sqlite"):
        await expect_imported(tmp_path)
    [moved] = names_in(tmp_path, "imported-*")
    assert set(os.listdir(tmp_path / moved)) == {"messages", "messages.json", "state"}
    assert not (tmp_path / "messages.json").exists()
    [line] = [r.getMessage() for r in caplog.records if "imported" in r.getMessage()]
    assert "imported 20 messages, 2 channel counts and 2 documents" in line
    await expect_imported(tmp_path)  # a second start imports nothing again


async def test_an_import_interrupted_before_the_move_only_moves(tmp_path: Path) -> None:
    write_old_data_dir(tmp_path / "a")
    write_old_data_dir(tmp_path / "b")
    await expect_imported(tmp_path / "a")
    # As if killed after the commit and before the move: the old files are still there.
    for name in ("messages", "messages.json", "state"):
        os.replace(tmp_path / "b" / name, tmp_path / "a" / name)
    await expect_imported(tmp_path / "a")  # exact, no duplicate, no count raised twice
    assert len(list((tmp_path / "a").glob("imported-*"))) == 2


IMPORTER = """
import asyncio, sys
from pathlib import Path
from services.store import SqliteStore

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]))
    print("opening", flush=True)
    await store.open()
    print("opened", flush=True)
    await store.close()

asyncio.run(main())
"""


async def test_kill_9_during_an_import_then_a_restart_is_exact(tmp_path: Path) -> None:
    size = 100_000
    write_old_data_dir(tmp_path, messages=size)
    importer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", IMPORTER, str(tmp_path),
        cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert importer.stdout is not None
    assert await importer.stdout.readline() == b"opening\n"
    # Polled: the importer is another process, with nothing to wait on but its files.
    while wal_size(tmp_path) < 1_000_000:  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # well into the import's transaction
    importer.send_signal(signal.SIGKILL)
    await importer.wait()
    assert (tmp_path / "messages.json").exists()  # nothing was moved: it was not done
    await expect_imported(tmp_path, messages=size)


async def test_an_encrypted_data_directory_keeps_its_texts_sealed(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    cipher = FernetCipher(key)
    (tmp_path / "messages").mkdir(parents=True)
    doc = {**_doc(1), "content": cipher.seal("sealed secret"), "author_name": cipher.seal("Ana")}
    (tmp_path / "messages" / "000001.0.log").write_bytes(
        _line({"put": 1001, "doc": doc, "beat": 1})
    )
    manifest = {"format": "discord-azure-bot/message-log/1", "segments": [[1, 0]], "index": None}
    (tmp_path / "messages.json").write_text(json.dumps(manifest))
    store = SqliteStore(tmp_path, cipher=FernetCipher(key))
    try:
        [kept] = await store.last_in_channel(1, 5)
        assert (kept.content, kept.author_name) == ("sealed secret", "Ana")
        assert b"sealed secret" not in (tmp_path / DATABASE_FILE).read_bytes()
    finally:
        await store.close()


async def test_the_first_release_tinydb_messages_file_is_imported(tmp_path: Path) -> None:
    documents = {str(1000 + n): _doc(n) for n in range(3)}
    (tmp_path / "messages.json").write_text(json.dumps({"messages": documents}))
    store = SqliteStore(tmp_path)
    try:
        kept = await store.last_in_channel(1, 10)
        assert [m.content for m in kept] == ["old message 0", "old message 1", "old message 2"]
    finally:
        await store.close()
