"""The PostgreSQL store against a real PostgreSQL 18 (tests/postgres_server.py): the ports'
behaviours, and what only a shared database brings (migrations under a lease, encryption at
rest, exact counters under concurrency, a server that goes away and comes back)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from app.main import run_bot, run_migrate
from app.settings import Secret, Settings, SettingsError, load_settings
from app.sync import sync_commands
from services.privacy.encryption import EncryptionKeyError, FernetCipher
from services.store import postgres
from services.store.model import Arrival, Document, MessageStore, StateStore, StoredMessage
from services.store.postgres import (
    MIGRATION_LEASE,
    PostgresStore,
    StoreSchemaError,
    StoreUnavailableError,
    known_migrations,
    migrate,
    split_statements,
)
from tests.azure_brain import Brain
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import ALICE, BRUNO, GENERAL, eventually, post_many, running_bot, sent_after
from tests.postgres_server import PostgresDatabase, PostgresServer

ROOT = Path(__file__).resolve().parents[1]
GUILD = 10
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def message(
    n: int, *, channel: int = 1, author: int = 100, guild: int = GUILD, content: str = ""
) -> StoredMessage:
    return StoredMessage(
        message_id=1000 + n,
        guild_id=guild,
        channel_id=channel,
        author_id=author,
        author_name=f"member{author}",
        content=content or f"message {n}",
        created_at=START + timedelta(minutes=n),
    )


def ports(store: PostgresStore) -> tuple[MessageStore, StateStore]:
    """Type-checked: the store implements both ports."""
    return store, store


@pytest.fixture
async def store(postgres_database: PostgresDatabase) -> AsyncIterator[PostgresStore]:
    opened = await postgres_database.open_store()
    yield opened
    await opened.close()


# -- the message port -----------------------------------------------------------------------


async def test_a_new_message_is_counted_once_and_a_replay_changes_nothing(
    store: PostgresStore,
) -> None:
    first = message(1)
    assert await store.add(first, counted=True) == Arrival(True, 1)
    replay = replace(first, content="replayed with other text")
    assert await store.add(replay, counted=True) == Arrival(False, None)
    assert await store.add(replay, counted=False) == Arrival(False, None)
    assert await store.channel_count(1) == 1
    assert await store.last_in_channel(1, 5) == [first]
    assert await store.add(message(2), counted=False) == Arrival(True, None)  # the bot's own
    assert await store.add(message(3), counted=True) == Arrival(True, 2)
    assert await store.channel_count(1) == 2
    assert await store.channel_count(2) == 0


async def test_a_message_not_kept_is_only_counted(
    store: PostgresStore, postgres_database: PostgresDatabase
) -> None:
    assert await store.count(1, 1001) == Arrival(True, 1)
    assert await store.count(1, 1001) == Arrival(False, None)
    assert await store.last_in_channel(1, 5) == []
    assert await postgres_database.query("SELECT * FROM messages") == []
    counted = await postgres_database.query("SELECT message_id, channel_id FROM counted_messages")
    assert [tuple(row) for row in counted] == [(1001, 1)]
    # Counted already: storing it later (an opt-in in between) does not count it again.
    assert await store.add(message(1), counted=True) == Arrival(True, None)
    assert await store.channel_count(1) == 1


async def test_counts_follow_the_order_of_the_calls(store: PostgresStore) -> None:
    arrivals = await asyncio.gather(
        *(store.add(message(n, channel=1 + n % 2), counted=True) for n in range(40))
    )
    assert [a.count for a in arrivals[0::2]] == list(range(1, 21))
    assert [a.count for a in arrivals[1::2]] == list(range(1, 21))


async def test_writes_held_up_in_the_database_complete_in_call_order(
    store: PostgresStore, postgres_database: PostgresDatabase
) -> None:
    """One writer: a write the database holds up (a row lock taken elsewhere) holds up the
    writes queued behind it, of every channel; released, they all complete, counted in order."""
    await store.add(message(1, channel=1), counted=True)
    blocker = await asyncpg.connect(postgres_database.url)
    try:
        held = blocker.transaction()
        await held.start()
        await blocker.execute("SELECT n FROM channel_counters WHERE channel_id = 1 FOR UPDATE")
        writes = [
            asyncio.create_task(store.add(message(2, channel=1), counted=True)),
            asyncio.create_task(store.add(message(3, channel=2), counted=True)),
            asyncio.create_task(store.add(message(4, channel=1), counted=True)),
        ]

        async def waiting_on_the_lock() -> bool:
            return bool(
                await blocker.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )

        await eventually(waiting_on_the_lock)
        assert not any(write.done() for write in writes)
        await held.commit()
    finally:
        await blocker.close()
    assert await asyncio.gather(*writes) == [Arrival(True, 2), Arrival(True, 1), Arrival(True, 3)]


async def test_last_in_channel_is_oldest_first_bounded_and_ends_at_up_to(
    store: PostgresStore,
) -> None:
    for n in range(8):
        await store.add(message(n, channel=1 if n % 2 == 0 else 2), counted=True)
    last = await store.last_in_channel(1, 3)
    assert [m.content for m in last] == ["message 2", "message 4", "message 6"]
    assert await store.last_in_channel(3, 5) == []
    assert await store.last_in_channel(1, 0) == []
    up_to = await store.last_in_channel(1, 2, up_to=1005)
    assert [m.content for m in up_to] == ["message 2", "message 4"]
    assert await store.last_in_channel(1, 2, up_to=999) == []
    assert last[0] == message(2)  # every field comes back as it went in


async def test_last_by_author_is_per_guild(store: PostgresStore) -> None:
    for n in range(6):
        await store.add(message(n, author=100 if n < 4 else 200), counted=True)
    await store.add(message(6, author=100, guild=99), counted=True)
    last = await store.last_by_author(GUILD, 100, 30)
    assert [m.message_id for m in last] == [1000, 1001, 1002, 1003]
    assert [m.message_id for m in await store.last_by_author(GUILD, 100, 2)] == [1002, 1003]
    assert [m.message_id for m in await store.last_by_author(99, 100, 30)] == [1006]


async def test_edit_and_delete(store: PostgresStore) -> None:
    await store.add(message(1), counted=True)
    edited_at = START + timedelta(hours=1)
    assert await store.edit(1001, "changed", edited_at)
    assert not await store.edit(4242, "nothing there", edited_at)
    [stored] = await store.last_in_channel(1, 5)
    assert (stored.content, stored.edited_at) == ("changed", edited_at)
    assert await store.delete(1001)
    assert not await store.delete(1001)
    assert await store.last_in_channel(1, 5) == []
    # Deleted, then replayed: stored again, but its beat was counted already.
    assert await store.add(message(1), counted=True) == Arrival(True, None)
    assert await store.channel_count(1) == 1


async def test_forget_author_removes_only_that_member_of_that_guild(store: PostgresStore) -> None:
    for n in range(5):
        await store.add(message(n, author=100), counted=True)
    await store.add(message(5, author=200), counted=True)
    await store.add(message(6, author=100, guild=99), counted=True)
    assert await store.forget_author(GUILD, 100) == 5
    assert await store.forget_author(GUILD, 100) == 0
    assert await store.last_by_author(GUILD, 100, 30) == []
    assert [m.message_id for m in await store.last_by_author(GUILD, 200, 30)] == [1005]
    assert [m.message_id for m in await store.last_by_author(99, 100, 30)] == [1006]
    assert await store.channel_count(1) == 7  # forgetting a member does not rewind the beat


async def test_retention_deletes_older_messages_and_their_counted_ids(
    store: PostgresStore, postgres_database: PostgresDatabase
) -> None:
    for n in range(10):
        await store.add(message(n), counted=True)
    assert await store.delete_older_than(START + timedelta(minutes=4)) == 4
    assert [m.message_id for m in await store.last_in_channel(1, 30)] == list(range(1004, 1010))
    assert await store.channel_count(1) == 10
    # The ids counted (now) stay until they are older than the cutoff too.
    assert len(await postgres_database.query("SELECT 1 FROM counted_messages")) == 10
    assert await store.delete_older_than(datetime.now(UTC) + timedelta(seconds=1)) == 6
    assert await postgres_database.query("SELECT 1 FROM counted_messages") == []


async def test_text_postgresql_would_refuse_is_stored_with_a_replacement(
    store: PostgresStore,
) -> None:
    await store.add(message(1, content="nul\x00here"), counted=True)
    [stored] = await store.last_in_channel(1, 1)
    assert stored.content == "nul\ufffdhere"
    await store.put_state("persona", "k", {"summary": "nul\x00here", "quoted": "\\u0000"})
    assert await store.get_state("persona", "k") == {
        "summary": "nul\ufffdhere",
        "quoted": "\\u0000",
    }


# -- the state port -------------------------------------------------------------------------


async def test_state_documents_are_replaced_not_merged(store: PostgresStore) -> None:
    assert await store.get_state("persona", "10:100") is None
    await store.put_state("persona", "10:100", {"v": 1, "a": 1, "b": [1, 2]})
    await store.put_state("persona", "10:100", {"v": 1, "c": "é"})
    assert await store.get_state("persona", "10:100") == {"v": 1, "c": "é"}
    assert await store.get_state("privacy", "10:100") is None  # kinds are apart
    assert await store.delete_state("persona", "10:100")
    assert not await store.delete_state("persona", "10:100")
    assert await store.get_state("persona", "10:100") is None


async def test_state_items_and_kinds(store: PostgresStore) -> None:
    await store.put_state("music_queue", "2", {"v": 1, "tracks": ["b"]})
    await store.put_state("music_queue", "1", {"v": 1, "tracks": ["a"]})
    await store.put_state("guild_settings", "1", {"v": 1, "temperature": 0.5})
    assert await store.state_items("music_queue") == [
        ("1", {"v": 1, "tracks": ["a"]}),
        ("2", {"v": 1, "tracks": ["b"]}),
    ]
    assert await store.state_items("persona") == []
    with pytest.raises(ValueError, match="not a state kind"):
        await store.get_state("profiles", "1")  # type: ignore[arg-type]


async def test_update_state_creates_changes_and_deletes(store: PostgresStore) -> None:
    def bump(document: Document | None) -> Document:
        return {"v": 1, "n": (document or {}).get("n", 0) + 1}

    assert await store.update_state("bot_replies", "k", bump) == {"v": 1, "n": 1}
    assert await store.update_state("bot_replies", "k", bump) == {"v": 1, "n": 2}
    assert await store.get_state("bot_replies", "k") == {"v": 1, "n": 2}
    seen: list[Document | None] = []

    def remove(document: Document | None) -> None:
        seen.append(document)

    assert await store.update_state("bot_replies", "k", remove) is None
    assert seen == [{"v": 1, "n": 2}]
    assert await store.get_state("bot_replies", "k") is None
    assert await store.update_state("bot_replies", "absent", remove) is None
    assert await store.state_items("bot_replies") == []  # no placeholder is left behind


async def test_a_change_that_raises_leaves_the_document_as_it_was(store: PostgresStore) -> None:
    await store.put_state("privacy", "k", {"v": 1, "opted_out": False})

    def broken(document: Document | None) -> Document:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.update_state("privacy", "k", broken)
    with pytest.raises(RuntimeError):
        await store.update_state("privacy", "new", broken)
    assert await store.state_items("privacy") == [("k", {"v": 1, "opted_out": False})]


async def test_concurrent_updates_of_one_document_lose_nothing(
    postgres_database: PostgresDatabase,
) -> None:
    """Two stores (two processes, as far as the database can tell), 40 increments at once."""
    first, second = await postgres_database.open_store(), await postgres_database.open_store()

    def bump(document: Document | None) -> Document:
        return {"v": 1, "n": (document or {}).get("n", 0) + 1}

    await asyncio.gather(
        *(s.update_state("guild_settings", "10", bump) for s in [first, second] * 20)
    )
    assert await first.get_state("guild_settings", "10") == {"v": 1, "n": 40}


async def test_everything_survives_closing_and_reopening(
    postgres_database: PostgresDatabase,
) -> None:
    store = await postgres_database.open_store()
    for n in range(3):
        await store.add(message(n), counted=True)
    await store.count(1, 5000)
    await store.put_state("persona", "10:100", {"v": 1, "summary": "terse"})
    await store.close()

    reopened = await postgres_database.open_store()
    assert [m.message_id for m in await reopened.last_in_channel(1, 10)] == [1000, 1001, 1002]
    assert await reopened.channel_count(1) == 4
    assert await reopened.add(message(2), counted=True) == Arrival(False, None)
    assert await reopened.add(message(3), counted=True) == Arrival(True, 5)
    assert await reopened.get_state("persona", "10:100") == {"v": 1, "summary": "terse"}
    migrations = await postgres_database.query("SELECT version FROM schema_migrations")
    assert [row["version"] for row in migrations] == [m.version for m in known_migrations()]


# -- migrations -----------------------------------------------------------------------------


def test_the_migration_files_split_into_statements() -> None:
    migrations = known_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.statements for m in migrations)
    assert split_statements("-- a; comment\nCREATE TABLE a (x int);\n\n;SELECT 1;") == (
        "CREATE TABLE a (x int)",
        "SELECT 1",
    )


async def test_two_stores_opening_a_fresh_database_at_once_migrate_it_once(
    empty_postgres_database: PostgresDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services.store.postgres")
    first, second = await asyncio.gather(
        empty_postgres_database.open_store(), empty_postgres_database.open_store()
    )
    rows = await empty_postgres_database.query("SELECT version FROM schema_migrations ORDER BY 1")
    assert [row["version"] for row in rows] == [m.version for m in known_migrations()]
    applied = [r for r in caplog.records if r.getMessage().startswith("applied migration")]
    assert len(applied) == len(known_migrations())
    assert await empty_postgres_database.query("SELECT * FROM leases") == []  # released
    assert await first.add(message(1), counted=True) == Arrival(True, 1)
    assert await second.add(message(2), counted=True) == Arrival(True, 2)
    assert [m.message_id for m in await second.last_in_channel(1, 5)] == [1001, 1002]


async def test_migrate_applies_what_is_missing_once(
    empty_postgres_database: PostgresDatabase,
) -> None:
    assert await migrate(empty_postgres_database.url) == [m.version for m in known_migrations()]
    assert await migrate(empty_postgres_database.url) == []


async def test_a_live_lease_is_waited_for_and_a_dead_one_taken_over(
    empty_postgres_database: PostgresDatabase,
) -> None:
    """Another process holds the migration lease and dies: this one waits until it expires."""
    connection = await asyncpg.connect(empty_postgres_database.url)
    try:
        await connection.execute(
            "CREATE TABLE leases (name text PRIMARY KEY, owner text NOT NULL, "
            "expires_at timestamptz NOT NULL)"
        )
        await connection.execute(
            "INSERT INTO leases VALUES ($1, 'another-host:1:dead', now() + interval '1.5 s')",
            MIGRATION_LEASE,
        )
    finally:
        await connection.close()
    began = time.monotonic()
    store = await empty_postgres_database.open_store()
    assert time.monotonic() - began >= 1.0
    assert await store.add(message(1), counted=True) == Arrival(True, 1)


async def test_a_schema_newer_than_the_code_is_refused_in_one_line(
    postgres_database: PostgresDatabase,
) -> None:
    await migrate(postgres_database.url)
    newer = known_migrations()[-1].version + 1
    connection = await asyncpg.connect(postgres_database.url)
    try:
        await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", newer)
    finally:
        await connection.close()
    for attempt in (postgres_database.open_store(), migrate(postgres_database.url)):
        with pytest.raises(StoreSchemaError) as refused:
            await attempt
        text = str(refused.value)
        assert "\n" not in text
        assert f"version {newer}, newer than this release" in text


async def test_an_unknown_database_is_one_line(postgres_server: PostgresServer) -> None:
    with pytest.raises(StoreUnavailableError) as refused:
        await PostgresStore.open(postgres_server.url_for("no_such_database"), retry_seconds=0)
    assert "\n" not in str(refused.value)
    assert "does not exist" in str(refused.value)


async def test_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(StoreUnavailableError) as refused:
        await PostgresStore.open("postgresql://bot:hunter22@127.0.0.1:9/bot", retry_seconds=0.3)
    text = str(refused.value)
    assert text.startswith("PostgreSQL (DATABASE_URL) could not be reached")
    assert "\n" not in text and "hunter22" not in text


# -- encryption -----------------------------------------------------------------------------

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()


async def test_with_a_key_no_plaintext_reaches_the_tables(
    postgres_database: PostgresDatabase,
) -> None:
    store = await postgres_database.open_store(cipher=FernetCipher(KEY))
    secret_text, secret_name = "the-secret-recipe-is-cardamom", "Zebulon-the-Quiet"
    await store.add(replace(message(1, content=secret_text), author_name=secret_name), counted=True)
    await store.add(message(2), counted=True)
    await store.edit(1002, f"edited {secret_text}", START)
    await store.put_state("persona", "10:100", {"v": 1, "summary": secret_text})
    await store.update_state("privacy", "10:100", lambda _: {"v": 1, "note": secret_text})

    dump = ""
    for table in ("messages", "state", "store_meta", "counted_messages", "channel_counters"):
        rows = await postgres_database.query(f"SELECT t::text AS row FROM {table} t")
        dump += "\n".join(row["row"] for row in rows)
    assert "message 2" not in dump and "member100" not in dump
    assert secret_text not in dump and secret_name not in dump
    assert '"sealed"' in dump

    [first, second] = await store.last_in_channel(1, 5)
    assert (first.content, first.author_name) == (secret_text, secret_name)
    assert second.content == f"edited {secret_text}"
    assert await store.get_state("persona", "10:100") == {"v": 1, "summary": secret_text}
    assert await store.state_items("privacy") == [("10:100", {"v": 1, "note": secret_text})]
    await store.close()
    reopened = await postgres_database.open_store(cipher=FernetCipher(KEY))
    assert [m.content for m in await reopened.last_in_channel(1, 1)] == [f"edited {secret_text}"]


async def test_a_missing_wrong_or_new_key_is_one_line(
    postgres_server: PostgresServer, postgres_database: PostgresDatabase
) -> None:
    encrypted = await postgres_database.open_store(cipher=FernetCipher(KEY))
    await encrypted.add(message(1), counted=True)
    await encrypted.close()
    for cipher, expected in [
        (None, "is encrypted: set STORE_ENCRYPTION_KEY"),
        (FernetCipher(OTHER_KEY), "is not the key"),
    ]:
        with pytest.raises(EncryptionKeyError) as refused:
            await postgres_database.open_store(cipher=cipher)
        assert expected in str(refused.value) and "\n" not in str(refused.value)

    plain = PostgresDatabase(postgres_server, await postgres_server.create_database())
    try:
        store = await plain.open_store()
        await store.add(message(1), counted=True)
        await store.close()
        with pytest.raises(EncryptionKeyError) as refused:
            await plain.open_store(cipher=FernetCipher(KEY))
        assert "holds unencrypted data" in str(refused.value)
    finally:
        await plain.dispose()


# -- concurrency ----------------------------------------------------------------------------


async def test_writes_called_together_are_one_statement_with_exact_arrivals(
    store: PostgresStore, postgres_database: PostgresDatabase
) -> None:
    """Adds and counts queued while the writer is busy go in one group (one write id), and
    each caller gets its own arrival: new or replayed, counted in call order per channel. A
    replay of a message still queued waits for the next group, and is seen as a replay."""
    await store.add(message(0, channel=1), counted=True)
    arrivals = await asyncio.gather(
        store.add(message(1, channel=1), counted=True),
        store.add(message(2, channel=2), counted=True),
        store.add(message(0, channel=1), counted=True),  # stored already
        store.count(1, 5001),  # an opted-out member's message
        store.add(message(3, channel=1), counted=False),  # the bot's own
        store.add(message(4, channel=2), counted=True),
        store.add(message(1, channel=1), counted=True),  # replay of one still queued
        store.add(message(5, channel=1), counted=True),
    )
    assert arrivals == [
        Arrival(True, 2),
        Arrival(True, 1),
        Arrival(False, None),
        Arrival(True, 3),
        Arrival(True, None),
        Arrival(True, 2),
        Arrival(False, None),
        Arrival(True, 4),
    ]
    groups = await postgres_database.query(
        "SELECT write_id, count(*) FROM messages WHERE message_id > 1000 GROUP BY write_id"
    )
    assert sorted(row[1] for row in groups) == [1, 4]  # 1001..1004 together, then 1005
    assert (await store.channel_count(1), await store.channel_count(2)) == (4, 2)


async def test_a_write_the_database_refuses_fails_alone(store: PostgresStore) -> None:
    too_large = replace(message(2), message_id=2**63)  # not a bigint
    arrivals = await asyncio.gather(
        store.add(message(1), counted=True),
        store.add(too_large, counted=True),
        store.add(message(3), counted=True),
        return_exceptions=True,
    )
    assert arrivals[0] == Arrival(True, 1) and arrivals[2] == Arrival(True, 2)
    assert isinstance(arrivals[1], Exception)
    assert [m.message_id for m in await store.last_in_channel(1, 5)] == [1001, 1003]


async def test_a_cancelled_caller_s_message_is_still_stored_and_counted(
    store: PostgresStore,
) -> None:
    first = asyncio.create_task(store.add(message(1), counted=True))
    cancelled = asyncio.create_task(store.add(message(2), counted=True))
    await asyncio.sleep(0)  # both queued
    cancelled.cancel()
    assert await first == Arrival(True, 1)
    assert await store.add(message(3), counted=True) == Arrival(True, 3)
    assert [m.message_id for m in await store.last_in_channel(1, 5)] == [1001, 1002, 1003]


async def test_the_counter_is_exact_under_8_concurrent_callers_across_2_channels(
    store: PostgresStore,
) -> None:
    called: dict[int, list[int]] = {1: [], 2: []}
    counts: dict[int, int | None] = {}

    async def caller(number: int) -> None:
        for k in range(25):
            channel = 1 + (number + k) % 2
            n = number * 100 + k
            called[channel].append(1000 + n)  # the call order, taken where add is called
            arrival = await store.add(message(n, channel=channel), counted=True)
            counts[1000 + n] = arrival.count

    await asyncio.gather(*(caller(number) for number in range(8)))
    for channel, ids in called.items():
        assert [counts[i] for i in ids] == list(range(1, len(ids) + 1)), channel
        assert await store.channel_count(channel) == len(ids)


async def test_two_processes_counting_one_channel_never_share_a_value(
    postgres_database: PostgresDatabase,
) -> None:
    stores = [await postgres_database.open_store(), await postgres_database.open_store()]

    async def caller(number: int) -> list[int | None]:
        store = stores[number % 2]
        found = []
        for k in range(25):
            found.append((await store.add(message(number * 100 + k), counted=True)).count)
        return found

    values = [v for found in await asyncio.gather(*(caller(i) for i in range(8))) for v in found]
    assert sorted(v for v in values if v is not None) == list(range(1, 201))


# -- a server that goes away ----------------------------------------------------------------


async def test_connections_killed_by_the_server_are_replaced(
    postgres_server: PostgresServer, postgres_database: PostgresDatabase
) -> None:
    store = await postgres_database.open_store()
    for n in range(5):
        await store.add(message(n), counted=True)
    await store.put_state("persona", "k", {"v": 1})
    adds = [asyncio.create_task(store.add(message(n), counted=True)) for n in range(5, 10)]
    assert await postgres_server.terminate_backends(postgres_database.name) >= 1
    arrivals = await asyncio.gather(*adds)
    assert [a.count for a in arrivals] == list(range(6, 11))
    # The adds may all have run before the kill, leaving the pool with no live connection
    # (asyncpg reconnects on acquire): a read makes sure there is one to kill again.
    assert await store.channel_count(1) == 10
    assert await postgres_server.terminate_backends(postgres_database.name) >= 1
    assert await store.add(message(10), counted=True) == Arrival(True, 11)
    assert len(await store.last_in_channel(1, 30)) == 11
    assert await store.get_state("persona", "k") == {"v": 1}


@contextlib.asynccontextmanager
async def server_down(server: PostgresServer) -> AsyncIterator[None]:
    """The test server stopped (a fast shutdown) for the block, started again after it."""
    await asyncio.to_thread(server.stop)
    try:
        yield
    finally:
        await asyncio.to_thread(server.start)


async def test_a_server_restart_loses_nothing_and_an_add_during_the_outage_raises(
    postgres_server: PostgresServer,
    postgres_database: PostgresDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not postgres_server.can_restart:
        pytest.skip("TEST_DATABASE_URL's server is not ours to stop")
    caplog.set_level(logging.WARNING, logger="services.store.postgres")
    patient = await postgres_database.open_store(retry_seconds=20)
    impatient = await postgres_database.open_store(retry_seconds=0.5)
    for n in range(5):
        await patient.add(message(n), counted=True)
    await patient.put_state("music_queue", "10", {"v": 1, "tracks": ["a"]})

    # Down for a moment: the add waits for the server and lands.
    async with server_down(postgres_server):
        waiting = asyncio.create_task(patient.add(message(5), counted=True))
        await asyncio.sleep(0.5)
        assert not waiting.done()
    assert await waiting == Arrival(True, 6)

    # Down for longer than the store waits: the add raises, nothing is stored nor counted.
    async with server_down(postgres_server):
        with pytest.raises(StoreUnavailableError) as unavailable:
            await impatient.add(message(6), counted=True)
        assert "\n" not in str(unavailable.value)

    assert await impatient.add(message(7), counted=True) == Arrival(True, 7)
    for store in (patient, impatient):
        ids = [m.message_id for m in await store.last_in_channel(1, 30)]
        assert ids == [1000, 1001, 1002, 1003, 1004, 1005, 1007]
        assert await store.channel_count(1) == 7
        assert await store.get_state("music_queue", "10") == {"v": 1, "tracks": ["a"]}
    lost = [r for r in caplog.records if "connection lost" in r.getMessage()]
    assert len(lost) == 2  # one line per store and outage, not one per attempt


class CommitCutOff:
    """Fault injection at the driver: the next commit loses its connection, after the server
    committed (`committed`) or before it could. A commit is a transaction's COMMIT (the
    transaction is rolled back when not `committed`), or a statement outside a transaction,
    which commits on its own (it is not sent when not `committed`)."""

    def __init__(self, pool: Any, *, committed: bool) -> None:
        self._pool = pool
        self._committed = committed
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._pool.acquire() as connection:
            yield _Connection(connection, self)


class _Connection:
    def __init__(self, connection: Any, fault: CommitCutOff) -> None:
        self._connection = connection
        self._fault = fault

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    async def fetch(self, query: str, *args: Any) -> Any:
        if not self._fault.armed or self._connection.is_in_transaction():
            return await self._connection.fetch(query, *args)
        self._fault.armed = False
        if self._fault._committed:
            await self._connection.fetch(query, *args)
        raise asyncpg.exceptions.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        transaction = self._connection.transaction()
        await transaction.start()
        try:
            yield
        except BaseException:
            await transaction.rollback()
            raise
        if not self._fault.armed:
            await transaction.commit()
            return
        self._fault.armed = False
        if self._fault._committed:
            await transaction.commit()
        else:
            await transaction.rollback()
        raise asyncpg.exceptions.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not committed"])
async def test_a_group_whose_answer_was_cut_off_is_read_back_or_written_again(
    store: PostgresStore, committed: bool
) -> None:
    await store.add(message(1, channel=1), counted=True)
    store._pool = CommitCutOff(store._pool, committed=committed)
    arrivals = list(
        await asyncio.gather(
            store.add(message(2, channel=1), counted=True),
            store.add(message(1, channel=1), counted=True),
            store.count(2, 5000),
            store.add(message(3, channel=1), counted=False),
            store.add(message(4, channel=1), counted=True),
        )
    )
    assert arrivals == [
        Arrival(True, 2),
        Arrival(False, None),
        Arrival(True, 1),
        Arrival(True, None),
        Arrival(True, 3),
    ]
    assert (await store.channel_count(1), await store.channel_count(2)) == (3, 1)
    assert len(await store.last_in_channel(1, 30)) == 4


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not committed"])
async def test_an_add_whose_commit_was_cut_off_is_stored_and_counted_once(
    store: PostgresStore, committed: bool
) -> None:
    await store.add(message(1), counted=True)
    fault = CommitCutOff(store._pool, committed=committed)
    store._pool = fault
    assert await store.add(message(2), counted=True) == Arrival(True, 2)
    assert not fault.armed
    assert await store.add(message(2), counted=True) == Arrival(False, None)
    assert await store.channel_count(1) == 2
    fault.armed = True
    assert await store.count(1, 5000) == Arrival(True, 3)
    assert await store.channel_count(1) == 3


async def test_an_update_whose_commit_was_cut_off_is_not_applied_twice(
    store: PostgresStore,
) -> None:
    calls: list[Document | None] = []

    def bump(document: Document | None) -> Document:
        calls.append(document)
        return {"v": 1, "n": (document or {}).get("n", 0) + 1}

    store._pool = CommitCutOff(store._pool, committed=True)
    with pytest.raises(StoreUnavailableError, match="may or may not have been saved"):
        await store.update_state("guild_settings", "10", bump)
    assert calls == [None]
    assert await store.get_state("guild_settings", "10") == {"v": 1, "n": 1}


# -- the bot on PostgreSQL ------------------------------------------------------------------


async def test_the_bot_keeps_its_messages_and_counts_in_postgresql(
    fake_discord: FakeDiscord,
    fake_azure: FakeAzureOpenAI,
    settings: Settings,
    postgres_database: PostgresDatabase,
) -> None:
    fake_azure.responder = Brain(reply=lambda chat: "Bom dia!")
    database = Secret(postgres_database.url)
    async with running_bot(fake_discord, settings, reply_every=3, database_url=database) as bot:
        assert isinstance(bot.services.store, PostgresStore)
        posted = await post_many(fake_discord, GENERAL, [ALICE, BRUNO], 3, "hello")
        [reply] = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, GENERAL, posted[-1])
        )
        stored = await eventually(
            lambda: postgres_database.query(
                "SELECT message_id FROM messages WHERE message_id = $1", int(reply["id"])
            )
        )
    assert reply["content"] == "Bom dia!" and stored
    rows = await postgres_database.query(
        "SELECT content, from_bot FROM messages WHERE channel_id = $1 ORDER BY message_id", GENERAL
    )
    assert [tuple(row) for row in rows] == [
        ("hello 1", False),
        ("hello 2", False),
        ("hello 3", False),
        ("Bom dia!", True),  # the bot's own words are context, not counted
    ]
    counters = await postgres_database.query("SELECT channel_id, n FROM channel_counters")
    assert [tuple(row) for row in counters] == [(GENERAL, 3)]
    assert not (settings.data_dir / "state").exists()  # nothing went to the embedded store


# -- the command line -----------------------------------------------------------------------

REQUIRED = {
    "DISCORD_TOKEN": "token-abcdef-123456",
    "CHANNEL_ID": "111",
    "AZURE_OPENAI_API_KEY": "azure-key-abcdef",
    "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com/",
    "AZURE_OPENAI_DEPLOYMENT": "gpt-test",
}
UNREACHABLE = "postgresql://bot:hunter22@127.0.0.1:9/bot"


def settings_with(tmp_path: Path, **env: str) -> Settings:
    return load_settings({**REQUIRED, "DATA_DIR": str(tmp_path / "data"), **env})


def test_python_m_app_migrate(empty_postgres_database: PostgresDatabase, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            **REQUIRED,
            "DATABASE_URL": empty_postgres_database.url,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Applied migration {m.version}." for m in known_migrations()
    ]
    assert "Traceback" not in result.stderr


async def test_migrate_says_the_schema_is_current_or_why_it_failed_in_one_line(
    postgres_database: PostgresDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await migrate(postgres_database.url)
    assert await run_migrate(settings_with(tmp_path, DATABASE_URL=postgres_database.url)) == 0
    current = known_migrations()[-1].version
    assert capsys.readouterr().out == f"The database schema is current (version {current}).\n"

    assert await run_migrate(settings_with(tmp_path, DATABASE_URL=UNREACHABLE)) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("PostgreSQL (DATABASE_URL) could not be reached")
    assert len(captured.err.splitlines()) == 1 and "hunter22" not in captured.err

    assert await run_migrate(settings_with(tmp_path)) == 1
    assert capsys.readouterr().err == (
        "DATABASE_URL is not set: only the PostgreSQL store has migrations.\n"
    )


async def test_the_bot_stops_with_one_line_when_the_store_cannot_open(
    postgres_database: PostgresDatabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres, "RETRY_SECONDS", 0.3)  # the bot waits 30 s for a server
    await migrate(postgres_database.url)
    connection = await asyncpg.connect(postgres_database.url)
    try:
        await connection.execute("INSERT INTO schema_migrations (version) VALUES (9999)")
    finally:
        await connection.close()
    too_new = settings_with(tmp_path, DATABASE_URL=postgres_database.url)
    unreachable = replace(too_new, database_url=Secret(UNREACHABLE))
    encrypted = replace(too_new, store_encryption_key=Secret(KEY))
    for settings, expected in [
        (too_new, "version 9999, newer than this release"),
        (unreachable, "could not be reached"),
    ]:
        assert await run_bot(settings) == 1
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and expected in lines[0], lines
        # `sync` builds the command tree only: it opens no store, so the database's state
        # does not stop it (here it fails on the token alone).
        assert await sync_commands(settings, guild_id=1, clear=False) == 1
        assert "DATABASE_URL" not in capsys.readouterr().err
    plain = PostgresDatabase(
        postgres_database.server, await postgres_database.server.create_database()
    )
    try:
        await (await plain.open_store()).close()
        assert await run_bot(replace(encrypted, database_url=Secret(plain.url))) == 1
        assert "holds unencrypted data" in capsys.readouterr().err
    finally:
        await plain.dispose()


def test_a_malformed_database_url_is_named_but_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**REQUIRED, "DATABASE_URL": "mysql://bot:hunter22@db/bot"})
    assert caught.value.problems == [
        "DATABASE_URL is malformed: expected a postgresql:// or postgres:// URL; see .env.example."
    ]
    settings = load_settings({**REQUIRED, "DATABASE_URL": "postgres://bot:p%40ss-word@db/bot"})
    assert settings.database_password.reveal() == "p@ss-word"
    assert "p%40ss" not in repr(settings)
