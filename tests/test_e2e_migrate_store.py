"""`python -m app migrate-store` end to end: the real bot fills an embedded store, the real
command copies it into PostgreSQL, and the bot started on PostgreSQL carries on where it
stopped; a copy killed with SIGKILL half-way, run again, ends with exact counts."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.migrate_store import run_migrate_store
from app.settings import Secret, Settings
from services.store import SqliteStore, StoredMessage
from tests.azure_brain import Brain, quoted_chat
from tests.conftest import Media
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.voice_client import connect_recording_voice
from tests.harness import (
    ALICE,
    BRUNO,
    GENERAL,
    GUILD_ID,
    RANDOM,
    VOICE,
    eventually,
    process_environment,
    run_app,
    running_bot,
    sent_after,
    store_of,
)
from tests.postgres_server import PostgresDatabase
from tests.test_e2e_music import answer, command, voice_of


async def migrate_store(
    settings: Settings, discord: FakeDiscord, *args: str
) -> tuple[int | None, str, str]:
    """Run the command to the end: (exit code, stdout, stderr)."""
    env = process_environment(settings, discord, DATABASE_URL=settings.database_url.reveal())
    process = await run_app(env, "migrate-store", *args)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


def counts_printed(out: str) -> dict[str, tuple[int, int]]:
    """The command's table: kind -> (in DATA_DIR, in PostgreSQL)."""
    table: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        *kind, mine, theirs = line.replace("<- differs", "").split()
        if kind and mine.replace(",", "").isdigit() and theirs.replace(",", "").isdigit():
            table[" ".join(kind)] = (int(mine.replace(",", "")), int(theirs.replace(",", "")))
    return table


async def test_the_bot_carries_on_in_postgresql_after_migrate_store(
    fake_discord: FakeDiscord,
    fake_azure: FakeAzureOpenAI,
    voice_settings: Settings,
    media: Media,
    postgres_database: PostgresDatabase,
) -> None:
    brain = Brain()
    fake_azure.responder = brain
    await fake_discord.join_voice(ALICE, VOICE)
    # On the embedded store: a reply to the 5th message (and a profile), two more messages,
    # and a queue of two songs left stopped by the shutdown.
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        before = [
            await fake_discord.post_message(GENERAL, [ALICE, BRUNO][n % 2], f"before {n + 1}")
            for n in range(5)
        ]
        await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, GENERAL, before[0])
        )
        for n in (6, 7):
            before.append(await fake_discord.post_message(GENERAL, ALICE, f"before {n}"))

        async def counted_seven() -> bool:
            return await bot.services.store.channel_count(GENERAL) == 7

        await eventually(counted_seven)
        await answer(await command(fake_discord, "play", query=media.long_song))
        await answer(await command(fake_discord, "play", query=media.song_wav))
        await voice_of(bot).wait_for_frames(5)

    target = replace(voice_settings, database_url=Secret(postgres_database.url))
    code, out, err = await migrate_store(target, fake_discord)
    assert code == 0, err
    assert "Every count matches." in out
    table = counts_printed(out)
    assert table["messages"] == (8, 8)  # seven, and the bot's reply
    assert table["channel counts"] == (1, 1)
    assert table["music_queue documents"] == (1, 1)
    assert table["persona documents"][0] >= 1
    assert err.strip().splitlines()[-1] == "copied 8 of 8 messages (100%)"  # not a terminal

    # On PostgreSQL, with a new DATA_DIR: nothing is read from the old one.
    moved = replace(target, data_dir=voice_settings.data_dir.parent / "after")
    async with running_bot(fake_discord, moved, connect_voice=connect_recording_voice):
        embed = (await answer(await command(fake_discord, "queue")))["embeds"][0]
        after = [await fake_discord.post_message(GENERAL, BRUNO, f"after {n}") for n in (8, 9, 10)]
        [reply] = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, GENERAL, after[0])
        )
    assert embed["fields"][0]["name"] == "Stopped (/resume carries on)"
    assert embed["fields"][0]["value"].startswith("long (")
    assert embed["fields"][1]["value"].startswith("2. song (")
    # The 10th counted message (7 before the move) was the beat, and its context the last
    # five messages, two of them from before the move.
    assert reply["message_reference"]["message_id"] == after[-1]["id"]
    assert [line["text"] for line in quoted_chat(brain.decisions[-1])] == [
        "before 6",
        "before 7",
        "after 8",
        "after 9",
        "after 10",
    ]
    assert len(brain.decisions) == 2


MESSAGES = 20_000
START = datetime(2026, 11, 1, tzinfo=UTC)


def generated(n: int) -> StoredMessage:
    return StoredMessage(
        message_id=1_400_000_000_000_000_000 + n * 4096,
        guild_id=GUILD_ID,
        channel_id=(GENERAL, RANDOM, 77)[n % 3],
        author_id=100 + n % 50,
        author_name=f"member {n % 50}",
        content=f"generated message number {n}, about as long as chat usually is",
        created_at=START + timedelta(seconds=n),
    )


async def test_a_copy_killed_half_way_then_run_again_ends_with_exact_counts(
    fake_discord: FakeDiscord,
    settings: Settings,
    postgres_database: PostgresDatabase,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with store_of(settings) as source:
        assert isinstance(source, SqliteStore)
        for start in range(0, MESSAGES, 2_000):  # awaited together: one fsync for many
            chunk = range(start, start + 2_000)
            await asyncio.gather(*(source.add(generated(n), counted=n % 10 != 0) for n in chunk))
        for member in range(5):
            await source.put_state("persona", f"{GUILD_ID}:{member}", {"v": 1, "summary": "x"})
        await source.put_state("music_queue", str(GUILD_ID), {"v": 1, "tracks": []})
        counts = await source.channel_counts()
    target = replace(settings, database_url=Secret(postgres_database.url))
    env = process_environment(target, fake_discord, DATABASE_URL=postgres_database.url)

    process = await run_app(env, "migrate-store", "--batch", "500")
    assert process.stderr is not None
    first = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
    os.kill(process.pid, signal.SIGKILL)  # right after its first progress line
    await process.communicate()
    assert first.startswith("copied 2,")
    [[killed_at]] = await postgres_database.query("SELECT count(*) FROM messages")
    assert 0 < killed_at < MESSAGES  # the kill landed mid-copy

    # The rerun in this process (what it does is the command's own run_migrate_store): the
    # kill needed a process of its own, the rerun only its outcome.
    code = await run_migrate_store(target, batch=5_000)
    out, err = capsys.readouterr()
    assert code == 0, err
    resumed = err.splitlines()[0]
    assert resumed.startswith("resuming: ") and resumed.endswith(
        f" of {MESSAGES:,} messages were already copied"
    )
    assert int(resumed.split()[1].replace(",", "")) <= killed_at
    table = counts_printed(out)
    assert table["messages"] == (MESSAGES, MESSAGES)
    assert table["channel counts"] == (3, 3)
    assert table["persona documents"] == (5, 5)
    assert table["music_queue documents"] == (1, 1)
    [row] = await postgres_database.query(
        "SELECT count(*) AS n, count(DISTINCT message_id) AS ids, min(message_id) AS first, "
        "max(message_id) AS last FROM messages"
    )
    assert (row["n"], row["ids"]) == (MESSAGES, MESSAGES)
    assert row["first"] == generated(0).message_id
    assert row["last"] == generated(MESSAGES - 1).message_id
    stored = await postgres_database.query("SELECT channel_id, n FROM channel_counters")
    assert {r["channel_id"]: r["n"] for r in stored} == counts
    marks = "SELECT name FROM store_meta WHERE name LIKE 'import:%'"
    assert not await postgres_database.query(marks)  # the resume mark is gone
