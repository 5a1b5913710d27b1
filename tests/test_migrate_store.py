"""migrate-store in parts: the embedded store's export, PostgreSQL's bulk import, the copy from
one into the other, the progress display and the command's one-line failures. The real
`python -m app migrate-store` process, killed and rerun, is in tests/test_e2e_migrate_store.py.
"""

from __future__ import annotations

import io
import json
import os
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from app.migrate_store import ProgressDisplay, run_migrate_store
from app.settings import Secret, Settings
from services.privacy.encryption import EncryptionKeyError, FernetCipher, cipher_for
from services.store import STATE_KINDS, SqliteStore, StoredAttachment, StoredMessage, UsageRow
from services.store.migrate_store import migrate_store
from services.store.postgres import PostgresStore
from services.store.server_documents import SERVER_KINDS
from tests.postgres_server import PostgresDatabase

GUILD = 10
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
KEY = Fernet.generate_key().decode()


def message(
    n: int, *, channel: int = 1, author: int = 100, content: str = "", from_bot: bool = False
) -> StoredMessage:
    return StoredMessage(
        message_id=1000 + n,
        guild_id=GUILD,
        channel_id=channel,
        author_id=author,
        author_name=f"member{author} ✨",
        content=content or f"message {n} ção",
        created_at=START + timedelta(minutes=n),
        from_bot=from_bot,
    )


async def exported(store: SqliteStore, **options: Any) -> tuple[int, list[list[StoredMessage]]]:
    export = await store.export_messages(**options)
    return export.total, [batch async for batch in export.batches]


# -- the export ---------------------------------------------------------------------------


async def test_the_export_gives_every_live_message_once_in_id_order(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    try:
        order = list(range(60))
        random.Random(3).shuffle(order)  # ids arrive out of order: the export sorts them
        for n in order:
            await store.add(message(n, channel=1 + n % 3, from_bot=n % 7 == 0), counted=True)
        for n in (5, 6, 40):
            await store.delete(1000 + n)
        await store.edit(1000 + 7, "edited text", START + timedelta(days=1))
        await store.add(message(7, content="a stale replay"), counted=True)
        total, batches = await exported(store, batch=7)
        everything = [m for channel in (1, 2, 3) for m in await store.last_in_channel(channel, 99)]
        after_30 = await exported(store, after=1030, batch=100)
    finally:
        await store.close()
    flat = [m for batch in batches for m in batch]
    assert total == 57 and len(flat) == 57
    assert all(len(batch) <= 7 for batch in batches)
    assert [m.message_id for m in flat] == sorted(m.message_id for m in everything)
    assert sorted(flat, key=lambda m: m.message_id) == sorted(
        everything, key=lambda m: m.message_id
    )
    edited = next(m for m in flat if m.message_id == 1007)
    assert (edited.content, edited.edited_at) == ("edited text", START + timedelta(days=1))
    assert after_30[0] == 28
    assert [m.message_id for m in after_30[1][0]] == [m.message_id for m in flat[-28:]]


async def test_counts_and_totals_are_exported(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    try:
        for n in range(5):
            await store.add(message(n, channel=1 + n % 2), counted=True)
        await store.add(message(9, channel=3), counted=False)
        await store.count(4, 5_000)  # an opted-out member's message: counted, not kept
        assert await store.channel_counts() == {1: 3, 2: 2, 4: 1}
        assert await store.message_count() == 6
    finally:
        await store.close()


# -- the import ---------------------------------------------------------------------------


@pytest.fixture
async def target(postgres_database: PostgresDatabase) -> PostgresStore:
    return await postgres_database.open_store()


async def test_an_import_is_idempotent_and_leaves_what_is_there(
    target: PostgresStore, postgres_database: PostgresDatabase
) -> None:
    await target.add(message(2, content="stored by the bot"), counted=True)
    batch = [message(n) for n in range(5)]
    batch[3] = replace(batch[3], edited_at=START + timedelta(hours=5))
    # A batch with a message already there: the COPY gives way to ON CONFLICT DO NOTHING.
    assert await target.import_messages(batch, progress="source") == 4
    assert await target.import_progress("source") == 1004
    assert await target.import_messages([message(n) for n in range(5, 8)], progress="source") == 3
    assert await target.import_messages(batch) == 0
    assert await target.import_progress("source") == 1007
    stored = await target.last_in_channel(1, 100)
    assert [m.message_id for m in stored] == list(range(1000, 1008))
    assert stored[2].content == "stored by the bot"
    assert stored[3] == batch[3]  # the edit time, names and text as they were
    assert await target.channel_count(1) == 1  # an import counts nothing
    rows = await postgres_database.query("SELECT count(*) AS n FROM counted_messages")
    assert rows[0]["n"] == 1
    await target.end_import("source")
    assert await target.import_progress("source") is None


async def test_imported_counts_only_ever_raise_a_count(target: PostgresStore) -> None:
    for n in range(3):
        await target.add(message(n), counted=True)
    await target.import_counts({1: 2, 2: 7})
    assert (await target.channel_count(1), await target.channel_count(2)) == (3, 7)
    await target.import_counts({1: 9})
    assert (await target.add(message(10), counted=True)).count == 10
    assert await target.channel_counts() == {1: 10, 2: 7}


async def test_imported_state_replaces_documents_of_the_same_key(target: PostgresStore) -> None:
    await target.put_state("persona", "10:1", {"v": 1, "summary": "old"})
    await target.import_state("persona", [("10:1", {"v": 1, "summary": "new"}), ("10:2", {})])
    await target.import_state("music_queue", [])
    assert await target.state_items("persona") == [
        ("10:1", {"v": 1, "summary": "new"}),
        ("10:2", {}),
    ]
    assert await target.state_counts() == {kind: 2 * (kind == "persona") for kind in STATE_KINDS}


# -- the copy -----------------------------------------------------------------------------


async def fill(store: SqliteStore) -> None:
    """Messages in three channels (an edit, a delete, a bot's own), an opted-out member's
    count, and documents of every state kind."""
    photo = StoredAttachment(
        "cat ✨.png", "image/png", 1234, "https://cdn.discordapp.com/a/1/c.png"
    )
    for n in range(30):
        kept = message(n, channel=1 + n % 3, author=100 + n % 4)
        if n % 7 == 0:  # some with a file, described
            kept = replace(kept, attachments=(photo,))
        await store.add(kept, counted=n % 5 != 0)
    await store.add(message(30, channel=1, content="the bot says hi", from_bot=True), counted=False)
    await store.edit(1003, "changed its mind", START + timedelta(days=2))
    await store.delete(1004)
    await store.count(2, 9_999)
    for number, kind in enumerate(STATE_KINDS):
        for n in range(number + 1):
            # A server's documents are keyed by its id, a member's by guild and member.
            key = str(GUILD + n) if kind in SERVER_KINDS else f"{GUILD}:{n}"
            await store.put_state(kind, key, {"v": 1, "kind": kind, "n": n})
    for member in (100, 101):
        for call in ("decision", "persona"):
            await store.add_usage(UsageRow(START.date(), GUILD, 1, member, call, 500, 40, 100))
    await store.add_usage(UsageRow(START.date(), GUILD, 1, 100, "decision", 5, 5, 0))


class Stop(Exception):
    pass


@pytest.mark.parametrize(
    ("encrypted", "same_key"),
    [(False, False), (True, False), (True, True)],
    ids=["plain", "opened and sealed again", "copied sealed"],
)
async def test_a_copy_holds_everything_the_embedded_store_held(
    tmp_path: Path, postgres_database: PostgresDatabase, encrypted: bool, same_key: bool
) -> None:
    cipher = FernetCipher(KEY) if encrypted else None
    source = SqliteStore(tmp_path, cipher=cipher)
    target = await postgres_database.open_store(cipher=cipher)
    await fill(source)
    seen: list[tuple[int, int]] = []
    report = await migrate_store(
        source,
        target,
        name="here",
        batch=4,
        progress=lambda *step: seen.append(step),
        same_key=same_key,
    )
    again = await migrate_store(source, target, name="here", batch=4, same_key=same_key)
    assert report.matches, report.differences()
    assert (report.copied, report.resumed) == (30, 0)
    assert report.source.messages == 30 and report.source.channels == 3
    assert report.source.documents == {kind: n + 1 for n, kind in enumerate(STATE_KINDS)}
    assert seen[0] == (0, 30) and seen[-1] == (30, 30) and len(seen) == 9
    assert again.matches and again.copied == 0  # a second copy changes nothing
    for channel in (1, 2, 3):
        assert await target.last_in_channel(channel, 99) == await source.last_in_channel(
            channel, 99
        )
        assert await target.channel_count(channel) == await source.channel_count(channel)
    for kind in STATE_KINDS:
        assert await target.state_items(kind) == sorted(await source.state_items(kind))
    assert report.source.usage == 4  # and not doubled by the second copy
    assert await target.usage_for(GUILD, START.date()) == await source.usage_for(
        GUILD, START.date()
    )
    rows = await postgres_database.query("SELECT author_name, content, attachments FROM messages")
    plaintext = any("message" in row["content"] or "✨" in row["author_name"] for row in rows)
    assert plaintext is not encrypted
    described = [row["attachments"] for row in rows if row["attachments"] is not None]
    assert len(described) == 5 and all(("cat" in text) is not encrypted for text in described)
    assert await target.import_progress("here") is None
    await source.close()


async def test_texts_sealed_with_another_key_are_refused(
    tmp_path: Path, postgres_database: PostgresDatabase
) -> None:
    source = SqliteStore(tmp_path, cipher=FernetCipher(Fernet.generate_key().decode()))
    target = await postgres_database.open_store(cipher=FernetCipher(KEY))
    await fill(source)
    export = await source.export_messages(sealed=True)
    batch = await anext(export.batches)
    with pytest.raises(EncryptionKeyError, match="not sealed with the database's key"):
        await target.import_messages(batch, sealed=True)
    assert await target.message_count() == 0
    await source.close()


async def test_a_copy_cut_short_resumes_after_the_last_batch_it_committed(
    tmp_path: Path, postgres_database: PostgresDatabase
) -> None:
    source = SqliteStore(tmp_path)
    target = await postgres_database.open_store()
    await fill(source)

    def stop_after_eight(done: int, total: int) -> None:
        if done >= 8:
            raise Stop

    with pytest.raises(Stop):
        await migrate_store(source, target, name="here", batch=4, progress=stop_after_eight)
    assert await target.message_count() == 8
    assert await target.import_progress("here") == 1008
    report = await migrate_store(source, target, name="here", batch=4)
    await source.close()
    assert report.matches, report.differences()
    assert (report.resumed, report.copied) == (8, 22)


# -- the progress display ------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_progress_is_a_line_at_each_tenth() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream)
    for done in range(0, 1_001, 50):
        display(done, 1_000)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "copied 100 of 1,000 messages (10%)"
    assert lines[-1] == "copied 1,000 of 1,000 messages (100%)"
    assert len(lines) == 10


def test_a_resumed_copy_says_so_then_counts_on() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream)
    display(400, 1_000)
    display(1_000, 1_000)
    assert stream.getvalue().splitlines() == [
        "resuming: 400 of 1,000 messages were already copied",
        "copied 1,000 of 1,000 messages (100%)",
    ]


def test_on_a_terminal_progress_is_a_bar_redrawn_in_place() -> None:
    stream = Terminal()
    display = ProgressDisplay(stream)
    display(0, 200)
    display(100, 200)  # within the redraw interval: not drawn
    display(200, 200)
    display.finish()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert f"[{'#' * 30}] 100% 200/200" in text


# -- the command's failures: one line each -------------------------------------------------


@pytest.fixture
def command_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Settings of a stopped bot whose DATA_DIR holds a store with one message."""
    data_dir = tmp_path / "source"
    data_dir.mkdir()
    return replace(
        settings,
        data_dir=data_dir,
        database_url=Secret("postgresql://bot:s3cret-pw@127.0.0.1:1/none"),
    )


async def write_source(settings: Settings) -> None:
    key = settings.store_encryption_key.reveal()
    store = SqliteStore(settings.data_dir, cipher=cipher_for(settings.data_dir, key))
    await store.add(message(1), counted=True)
    await store.close()


async def one_line_failure(settings: Settings, capsys: pytest.CaptureFixture[str]) -> str:
    code = await run_migrate_store(settings, batch=10)
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "s3cret-pw" not in err
    return err.strip()


async def test_without_database_url(
    command_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    unset = replace(command_settings, database_url=Secret(""))
    assert "DATABASE_URL is not set" in await one_line_failure(unset, capsys)


async def test_without_a_data_dir(
    command_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = replace(command_settings, data_dir=tmp_path / "nowhere")
    assert "does not exist" in await one_line_failure(missing, capsys)
    assert not (tmp_path / "nowhere").exists()  # nothing created on the way


async def test_a_data_dir_without_a_store(
    command_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    (command_settings.data_dir / "notes.txt").write_text("hello")
    assert "holds no embedded store" in await one_line_failure(command_settings, capsys)


async def test_a_running_bot(
    command_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await write_source(command_settings)
    beat = {"connected": True, "at": time.time(), "fresh_for": 60}
    (command_settings.data_dir / "heartbeat").write_text(json.dumps(beat))
    assert "stop it" in await one_line_failure(command_settings, capsys)


@pytest.mark.parametrize(
    ("written_with", "read_with", "expected"),
    [
        (KEY, "", "is encrypted: set STORE_ENCRYPTION_KEY"),
        ("", KEY, "holds unencrypted data"),
        (KEY, Fernet.generate_key().decode(), "is not the key"),
    ],
    ids=["key missing", "key added", "another key"],
)
async def test_a_key_that_does_not_fit_the_data_dir(
    command_settings: Settings,
    capsys: pytest.CaptureFixture[str],
    written_with: str,
    read_with: str,
    expected: str,
) -> None:
    await write_source(replace(command_settings, store_encryption_key=Secret(written_with)))
    reading = replace(command_settings, store_encryption_key=Secret(read_with))
    assert expected in await one_line_failure(reading, capsys)


async def test_an_unreachable_database(
    command_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await write_source(command_settings)
    assert "could not be reached" in await one_line_failure(command_settings, capsys)


async def test_a_database_encrypted_with_another_key(
    command_settings: Settings,
    postgres_database: PostgresDatabase,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = await postgres_database.open_store(cipher=FernetCipher(Fernet.generate_key().decode()))
    await other.close()
    encrypted = replace(
        command_settings,
        store_encryption_key=Secret(KEY),
        database_url=Secret(postgres_database.url),
    )
    await write_source(encrypted)
    assert "is not the key the database" in await one_line_failure(encrypted, capsys)


async def test_a_plain_data_dir_into_an_encrypted_database(
    command_settings: Settings,
    postgres_database: PostgresDatabase,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The key opens DATA_DIR and seals the database: both or neither."""
    await write_source(command_settings)
    sealed = await postgres_database.open_store(cipher=FernetCipher(KEY))
    await sealed.close()
    plain = replace(command_settings, database_url=Secret(postgres_database.url))
    assert "is encrypted: set STORE_ENCRYPTION_KEY" in await one_line_failure(plain, capsys)
    assert os.listdir(command_settings.data_dir)  # the source untouched
