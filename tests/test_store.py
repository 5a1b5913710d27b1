from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.store import StoredMessage, TinyStore

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
async def store(tmp_path: Path) -> AsyncIterator[TinyStore]:
    opened = TinyStore(tmp_path)
    yield opened
    await opened.close()


async def test_last_in_channel_is_oldest_first_and_bounded(store: TinyStore) -> None:
    for n in range(8):
        await store.add(message(n, channel=1 if n % 2 == 0 else 2))
    last = await store.last_in_channel(1, 3)
    assert [m.content for m in last] == ["message 2", "message 4", "message 6"]
    assert await store.last_in_channel(3, 5) == []


async def test_last_by_author_is_per_guild(store: TinyStore) -> None:
    for n in range(6):
        await store.add(message(n, author=100 if n < 4 else 200))
    await store.add(message(6, author=100, guild=99))
    last = await store.last_by_author(GUILD, 100, 30)
    assert [m.message_id for m in last] == [1000, 1001, 1002, 1003]
    assert [m.author_name for m in last] == ["member100"] * 4


async def test_adding_the_same_message_twice_keeps_one(store: TinyStore) -> None:
    await store.add(message(1))
    await store.add(message(1))
    assert len(await store.last_in_channel(1, 10)) == 1


async def test_edit_and_delete(store: TinyStore) -> None:
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


async def test_count_since_and_forget(store: TinyStore) -> None:
    for n in range(10):
        await store.add(message(n, author=100 if n % 2 else 200, channel=1 if n < 5 else 2))
    since = START + timedelta(minutes=4)
    assert await store.count_since(GUILD, since) == 6
    assert await store.count_since(GUILD, since, channel_id=2) == 5
    assert await store.count_since(GUILD, since, author_id=100) == 3
    assert await store.forget_author(GUILD, 100) == 5
    assert await store.last_by_author(GUILD, 100, 30) == []
    assert len(await store.last_by_author(GUILD, 200, 30)) == 5


async def test_retention_deletes_only_older_messages(store: TinyStore) -> None:
    for n in range(5):
        await store.add(message(n))
    assert await store.delete_older_than(START + timedelta(minutes=3)) == 3
    assert [m.message_id for m in await store.last_in_channel(1, 10)] == [1003, 1004]


async def test_state_documents_are_replaced_not_merged(store: TinyStore) -> None:
    await store.put_state("channel", "1", {"count": 3, "extra": True})
    await store.put_state("channel", "1", {"count": 4})
    assert await store.get_state("channel", "1") == {"count": 4}
    assert await store.get_state("channel", "2") is None
    assert await store.delete_state("channel", "1")
    assert await store.get_state("channel", "1") is None


async def test_data_survives_reopening(tmp_path: Path) -> None:
    first = TinyStore(tmp_path)
    await first.add(message(1))
    await first.put_state("guild", "10", {"temperature": 0.9})
    await first.close()
    second = TinyStore(tmp_path)
    try:
        assert [m.message_id for m in await second.last_in_channel(1, 5)] == [1001]
        assert await second.get_state("guild", "10") == {"temperature": 0.9}
    finally:
        await second.close()


WRITER = """
import asyncio, sys
from datetime import UTC, datetime
from pathlib import Path
from services.store import StoredMessage, TinyStore

async def main() -> None:
    store = TinyStore(Path(sys.argv[1]))
    n = 0
    while True:
        n += 1
        await store.add(StoredMessage(n, 1, 1, 2, "a", "x" * 50, datetime.now(UTC)))
        if n % 3 == 0:
            await store.delete(n - 1)  # a write that makes the file shorter
        print(n, flush=True)

asyncio.run(main())
"""


ROOT = Path(__file__).resolve().parents[1]


async def stored_ids(data_dir: Path) -> set[int]:
    reopened = TinyStore(data_dir)
    try:
        return {m.message_id for m in await reopened.last_in_channel(1, 10_000)}
    finally:
        await reopened.close()


@pytest.mark.parametrize("kill_after", [5, 23, 61])
def test_acknowledged_messages_survive_kill_9(tmp_path: Path, kill_after: int) -> None:
    root = ROOT
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert child.stdout is not None
    acknowledged = [int(child.stdout.readline()) for _ in range(kill_after)]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()

    json.loads((tmp_path / "messages.json").read_text())  # never half-written
    kept = asyncio.run(stored_ids(tmp_path))
    expected = {n for n in acknowledged if n % 3 != 2}  # every third deletes the one before
    assert expected <= kept
