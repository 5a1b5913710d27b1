# The waiting helpers take a `timeout` argument on purpose, like the fakes' own.
# ruff: noqa: ASYNC109
"""Two `python -m app` processes split two shards over one PostgreSQL, as an operator runs them.

One fake Discord with a guild on each shard (two watched channels in guild A, on shard 0; one
in guild B, on shard 1) and one database. Every message is stored once and every 5th message
of each channel is answered once, by the process that owns its guild. The owner of shard 0 is
killed (-9) while guild B carries on, and restarted at once, its lease still live: it waits
the lease out (the killed process no longer renews it) instead of exiting, and a third process
asking for shard 0 at the same moment does too. One takes it, reads back what guild A said
meanwhile and answers it again from the counts the database kept; the other is refused with
one line, as the first one renews the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from services.sharding import shard_of
from tests.azure_brain import Brain
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord, FakeUser
from tests.harness import (
    ALICE,
    APPLICATION_ID,
    AZURE_KEY,
    BOT,
    BRUNO,
    DISCORD_TOKEN,
    PROJECT_ROOT,
)
from tests.postgres_server import PostgresDatabase

JSON = dict[str, Any]

GUILD_A = (220_000_000_000 << 22) | 1  # shard 0 of 2
GUILD_B = (220_000_000_001 << 22) | 2  # shard 1 of 2
A_GENERAL = 930_000_000_000_000_010
A_RANDOM = 930_000_000_000_000_011
B_GENERAL = 930_000_000_000_000_020
CHANNELS_A = (A_GENERAL, A_RANDOM)
LEASE_SECONDS = "3"  # SHARD_LEASE_SECONDS: each process watches a held lease for 1.25 s
# The first owner of shard 0 (the one killed) holds its lease for longer than a process takes
# to start, however busy the machine: its restart surely finds the lease still live.
KILLED_LEASE_SECONDS = "12"

_ANSWERED = re.compile(r"decision: \w+ on message (\d+) in channel (\d+): reply ")


@dataclass
class BotProcess:
    """A running `python -m app`, its output (stderr and stdout) read line by line."""

    name: str
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, name: str, env: dict[str, str]) -> BotProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            env=env,
            cwd=PROJECT_ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        started = cls(name, process)
        started._reader = asyncio.create_task(started._read())
        return started

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    async def wait_exit(self, timeout: float = 30) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    def answered(self) -> list[tuple[int, int]]:
        """(message id, channel id) of every reply decision this process logged."""
        found = (_ANSWERED.search(line) for line in self.lines)
        return [(int(m[1]), int(m[2])) for m in found if m is not None]

    def output(self) -> str:
        return "\n".join(self.lines[-40:])

    async def kill_9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.wait_exit()

    async def stop(self) -> int:
        """SIGTERM, as `docker stop` sends."""
        self.process.send_signal(signal.SIGTERM)
        return await self.wait_exit()


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 20, what: str = "a condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def bot_env(
    discord: FakeDiscord, azure: FakeAzureOpenAI, database: PostgresDatabase, data_dir: Path
) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(PROJECT_ROOT),
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "CHANNEL_ID": ",".join(str(c) for c in (*CHANNELS_A, B_GENERAL)),
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
        "AZURE_OPENAI_ENDPOINT": azure.endpoint,
        "AZURE_OPENAI_DEPLOYMENT": azure.deployment,
        "DISCORD_API_BASE": discord.rest_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database.url,
        "DATABASE_POOL_SIZE": "3",
        "SHARD_COUNT": "2",
        "SHARD_LEASE_SECONDS": LEASE_SECONDS,
        "PERSONA_MIN_MINUTES": "0",
    }


@contextlib.asynccontextmanager
async def two_guilds() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(
        token=DISCORD_TOKEN,
        application_id=APPLICATION_ID,
        bot_user=BOT,
        guild_id=GUILD_A,
        guild_name="Guild A",
        text_channels={A_GENERAL: "general", A_RANDOM: "random"},
        members=[ALICE, BRUNO],
    )
    fake.add_guild(GUILD_B, "Guild B", {B_GENERAL: "general"})
    # Enough buckets that the two shards IDENTIFY side by side (shard % 16 differ).
    fake.session_start_limit = {**fake.session_start_limit, "max_concurrency": 16}
    async with fake:
        yield fake


async def post_five(
    fake: FakeDiscord, channel_id: int, authors: list[FakeUser], tag: str
) -> list[JSON]:
    return [await fake.post_message(channel_id, authors[n % 2], f"{tag} {n + 1}") for n in range(5)]


def replies_in(fake: FakeDiscord, channel_id: int) -> list[JSON]:
    return [m for m in fake.sent_messages if int(m["channel_id"]) == channel_id]


async def wait_for_replies(fake: FakeDiscord, expected: dict[int, int]) -> None:
    """Until each channel has (at least) its expected number of replies."""
    await fake.wait_for_state(
        lambda: all(len(replies_in(fake, c)) >= n for c, n in expected.items()),
        timeout=20,
        what=f"replies {expected}",
    )


async def test_two_processes_split_the_shards_and_a_restart_carries_on(
    fake_azure: FakeAzureOpenAI, postgres_database: PostgresDatabase, tmp_path: Path
) -> None:
    fake_azure.responder = Brain()
    assert (shard_of(GUILD_A, 2), shard_of(GUILD_B, 2)) == (0, 1)
    async with two_guilds() as fake:
        env = bot_env(fake, fake_azure, postgres_database, tmp_path / "data")
        processes: list[BotProcess] = []

        async def start(name: str, shard_ids: str, **more: str) -> BotProcess:
            process = await BotProcess.start(name, {**env, "SHARD_IDS": shard_ids, **more})
            processes.append(process)
            return process

        try:
            zero = await start("zero", "0", SHARD_LEASE_SECONDS=KILLED_LEASE_SECONDS)
            one = await start("one", "1")
            await fake.wait_for_state(
                lambda: sorted(fake.ready_shards()) == [(0, 2), (1, 2)],
                timeout=30,
                what="both shards",
            )
            # A process that splits another count would own some of their guilds too.
            stray = await BotProcess.start("stray", {**env, "SHARD_COUNT": "4", "SHARD_IDS": "3"})
            processes.append(stray)
            assert await stray.wait_exit() == 1
            assert stray.lines[-1].startswith("SHARD_COUNT is 4 here but 2 (for "), stray.output()
            assert not any("Traceback" in line for line in stray.lines), stray.output()
            posted: dict[int, list[JSON]] = {c: [] for c in (*CHANNELS_A, B_GENERAL)}
            for channel_id in posted:
                posted[channel_id] += await post_five(fake, channel_id, [ALICE, BRUNO], "first")
            await wait_for_replies(fake, {c: 1 for c in posted})  # all stored, by the replies
            # And the replies themselves, which come back through the gateway, are stored too:
            # everything of guild A is acknowledged.
            await eventually(
                lambda: _bot_messages_stored(postgres_database, CHANNELS_A, 1),
                what="the bot's replies stored",
            )

            # kill -9 the owner of shard 0 and restart it at once (as a service manager does),
            # with a third process asking for shard 0 at the same moment: the killed process's
            # lease is still live. Guild B is still answered meanwhile, and what is said in
            # guild A reaches no process (Discord replays nothing to a new session).
            await zero.kill_9()
            assert await _lease_held(postgres_database, "shard:0")
            contenders = [await start("restarted", "0"), await start("third", "0")]
            posted[B_GENERAL] += await post_five(fake, B_GENERAL, [BRUNO, ALICE], "alone")
            posted[A_GENERAL] += await post_five(fake, A_GENERAL, [BRUNO, ALICE], "away")
            await wait_for_replies(fake, {B_GENERAL: 2})

            # Both wait the dead lease out; then one takes shard 0, and the other is refused
            # as soon as it sees the first one renew it.
            exits = {asyncio.ensure_future(c.process.wait()): c for c in contenders}
            done, _ = await asyncio.wait(exits, timeout=40, return_when=asyncio.FIRST_COMPLETED)
            assert len(done) == 1, [c.output() for c in contenders]
            third = exits[done.pop()]
            restarted = next(c for c in contenders if c is not third)
            assert await third.wait_exit() == 1
            assert third.lines[-1].startswith("Shard 0 is already run by another live process ("), (
                third.output()
            )
            assert f":{restarted.process.pid}:" in third.lines[-1]  # the live one holds it
            assert not any("Traceback" in line for line in third.lines), third.output()
            killed = f":{zero.process.pid}:"
            waited = [line for line in restarted.lines if "Shard 0 is still leased to" in line]
            assert len(waited) == 1 and killed in waited[0], restarted.output()
            assert "waiting up to " in waited[0], restarted.output()

            # The new owner reads back what guild A said meanwhile (the catch-up): stored,
            # counted from where the database left off, its beat answered late.
            await wait_for_replies(fake, {A_GENERAL: 2})
            for channel_id in CHANNELS_A:
                posted[channel_id] += await post_five(fake, channel_id, [BRUNO, ALICE], "again")
            await wait_for_replies(fake, {A_GENERAL: 3, A_RANDOM: 2})

            stopped = await asyncio.gather(restarted.stop(), one.stop())
            assert tuple(stopped) == (0, 0), restarted.output() + one.output()
            for waiting in exits:
                waiting.cancel()
        finally:
            for process in processes:
                if process.process.returncode is None:
                    await process.kill_9()

        # Shard 0 was IDENTIFYed twice (its first owner, the restart): the refused process
        # never reached the gateway.
        assert [p["shard"] for p in fake.identify_payloads].count([0, 2]) == 2

        # Every 5th message of each channel answered once, as a reply to it, by its owner.
        for channel_id, messages in posted.items():
            replies = replies_in(fake, channel_id)
            assert [r["message_reference"]["message_id"] for r in replies] == [
                m["id"] for m in messages[4::5]
            ], channel_id

        def beats(channel_id: int, *numbers: int) -> list[tuple[int, int]]:
            return [(int(posted[channel_id][n - 1]["id"]), channel_id) for n in numbers]

        assert sorted(zero.answered()) == sorted(beats(A_GENERAL, 5) + beats(A_RANDOM, 5))
        assert sorted(restarted.answered()) == sorted(  # the counts carried on
            beats(A_GENERAL, 10, 15) + beats(A_RANDOM, 10)
        )
        assert sorted(one.answered()) == beats(B_GENERAL, 5, 10)

    # Stored exactly once, counted exactly, and the clean stops gave the leases back.
    for channel_id, messages in posted.items():
        rows = await postgres_database.query(
            "SELECT message_id, from_bot FROM messages WHERE channel_id = $1 ORDER BY message_id",
            channel_id,
        )
        assert [r["message_id"] for r in rows if not r["from_bot"]] == [
            int(m["id"]) for m in messages
        ]
        assert [r["message_id"] for r in rows if r["from_bot"]] == [
            int(r["id"]) for r in replies_in(fake, channel_id)
        ]
        [counter] = await postgres_database.query(
            "SELECT n FROM channel_counters WHERE channel_id = $1", channel_id
        )
        assert counter["n"] == len(messages)
    assert [len(posted[c]) for c in (A_GENERAL, A_RANDOM, B_GENERAL)] == [15, 10, 10]
    held = await postgres_database.query(
        "SELECT name FROM leases WHERE name LIKE 'shard:%' AND expires_at > now()"
    )
    assert held == []


async def _bot_messages_stored(
    database: PostgresDatabase, channels: tuple[int, ...], each: int
) -> bool:
    rows = await database.query(
        "SELECT channel_id, count(*) AS n FROM messages WHERE from_bot "
        "AND channel_id = ANY($1::bigint[]) GROUP BY channel_id",
        list(channels),
    )
    return {r["channel_id"]: r["n"] for r in rows} == dict.fromkeys(channels, each)


async def _lease_held(database: PostgresDatabase, name: str) -> bool:
    try:
        rows = await database.query(
            "SELECT 1 FROM leases WHERE name = $1 AND expires_at > now()", name
        )
    except asyncpg.exceptions.UndefinedTableError:  # no process has migrated it yet
        return False
    return bool(rows)
