# The waiting helper takes a `timeout` argument on purpose, like the fakes' own.
# ruff: noqa: ASYNC109
"""The real bot, run against the loopback fakes: what the end-to-end tests drive."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from app.bot import AzureBot
from app.composition import (
    Seams,
    find_ffmpeg,
    music_resolver_for,
    open_postgres,
    open_services,
    open_sqlite,
)
from app.settings import Secret, Settings
from commands.chat import ChatCog
from commands.voice_audio import VoiceConnect, connect_discord_voice
from services.store import SqliteStore
from services.store.postgres import PostgresStore
from services.voice.music_source import MusicResolver
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord, FakeUser

T = TypeVar("T")
JSON = dict[str, Any]

GUILD_ID = 900_000_000_000_000_001
APPLICATION_ID = 900_000_000_000_000_002
GENERAL = 900_000_000_000_000_010  # watched
RANDOM = 900_000_000_000_000_011  # watched
OFFTOPIC = 900_000_000_000_000_012  # not watched
FORUM = 900_000_000_000_000_013  # a forum channel, watched only by the tests that say so
VOICE = 900_000_000_000_000_020
QUIET_ROOM = 900_000_000_000_000_021  # a second voice channel
STAGE = 900_000_000_000_000_022  # a stage channel: joiners start in the audience
BOT = FakeUser(id=900_000_000_000_000_100, username="Aria", bot=True)
ALICE = FakeUser(id=900_000_000_000_000_101, username="alice", global_name="Alice")
BRUNO = FakeUser(id=900_000_000_000_000_102, username="bruno", global_name="Bruno")
CAROL = FakeUser(id=900_000_000_000_000_103, username="carol", global_name="Carol")
OTHER_BOT = FakeUser(id=900_000_000_000_000_104, username="otherbot", bot=True)
MODERATOR = FakeUser(id=900_000_000_000_000_105, username="mod", global_name="Mod")
DISCORD_TOKEN = "fake-discord-token-0123456789"
AZURE_KEY = "fake-azure-key-0123456789"
FALLBACK_DEPLOYMENT = "gpt-fallback"  # the fake Azure's second deployment
ELEVENLABS_KEY = "fake-elevenlabs-key-0123456789"
ELEVENLABS_VOICE = "voice-aria-0001"
# Other credentials the tests use; the suite checks none of them reaches a log or a file.
EXTRA_SECRETS: list[str] = [ELEVENLABS_KEY]


def new_fake_discord() -> FakeDiscord:
    fake = FakeDiscord(
        token=DISCORD_TOKEN,
        application_id=APPLICATION_ID,
        bot_user=BOT,
        guild_id=GUILD_ID,
        text_channels={GENERAL: "general", RANDOM: "random", OFFTOPIC: "offtopic"},
        voice_channels={VOICE: "Lounge", QUIET_ROOM: "Quiet room"},
        members=[ALICE, BRUNO, CAROL, OTHER_BOT],
    )
    fake.add_guild_member(MODERATOR, admin=True)
    fake.add_forum_channel(FORUM, "ideas")
    fake.add_stage_channel(STAGE, "Town hall")
    return fake


def settings_for(discord: FakeDiscord, azure: FakeAzureOpenAI, data_dir: Path) -> Settings:
    return Settings(
        discord_token=Secret(discord.token),
        channel_ids=frozenset({GENERAL, RANDOM}),
        azure_openai_api_key=Secret(AZURE_KEY),
        azure_openai_endpoint=azure.endpoint,
        azure_openai_deployment=azure.deployment,
        guild_id=GUILD_ID,
        azure_openai_timeout=2.0,
        data_dir=data_dir,
        persona_min_minutes=0,
    )


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 10) -> T:
    """Wait for an async condition to hold (truthy), checking as events are processed."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(0.01)


@dataclass
class RunningBot:
    bot: AzureBot
    task: asyncio.Task[None]

    async def stop(self) -> None:
        await self.bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def running_bot(
    discord: FakeDiscord,
    settings: Settings,
    *,
    connect_voice: VoiceConnect = connect_discord_voice,
    generic_extractor: bool = False,
    **overrides: Any,
) -> AsyncIterator[AzureBot]:
    """Start the real bot against the fakes; waits until its guild has arrived.
    `generic_extractor`: see `resolver_for_tests`."""
    settings = replace(settings, **overrides)
    resolver = resolver_for_tests(settings, generic_extractor=generic_extractor)
    seams = Seams(connect_voice=connect_voice, music_resolver=resolver)
    async with open_services(settings, seams) as services:
        bot = AzureBot(settings, services)
        connections = discord.identify_count
        task = asyncio.create_task(bot.start(settings.discord_token.reveal()))
        try:
            await eventually(lambda: _guild_ready(bot, discord, connections))
            yield bot
        finally:
            await RunningBot(bot, task).stop()


def resolver_for_tests(settings: Settings, *, generic_extractor: bool = False) -> MusicResolver:
    """The production resolver (`music_resolver_for`), with two test seams, not settings:
    - no warm-up at start: a yt-dlp worker process starts when a test first resolves
      something with yt-dlp (a worker costs about a second of CPU, and most of the suite's
      hundred bot starts never use one; the warm-up has tests of its own);
    - `generic_extractor`: yt-dlp then may use its generic extractor, which production never
      does, so that a test can make it read an HTML page of the loopback media server (its
      `<audio>` tags). Reaching the loopback server at all takes the real setting,
      `music_allow_private_network` (on in `voice_settings`)."""
    if not generic_extractor:
        return music_resolver_for(settings, warm=False)
    return MusicResolver(
        allowed_hosts=settings.music_allowed_hosts,
        max_seconds=settings.music_max_minutes * 60,
        timeout=settings.music_timeout_seconds,
        allow_private_network=settings.music_allow_private_network,
        allow_generic_extractor=True,
        ffmpeg=find_ffmpeg(),
        warm=False,
    )


async def _guild_ready(bot: AzureBot, discord: FakeDiscord, connections: int) -> bool:
    return discord.identify_count > connections and bot.get_guild(GUILD_ID) is not None


def chat_listener(bot: AzureBot) -> ChatCog:
    cog = bot.get_cog("ChatCog")
    assert isinstance(cog, ChatCog)
    return cog


async def stored_human_ids(bot: AzureBot, channel_id: int) -> list[int]:
    """The ids of the members' messages the bot stored for the channel, oldest first."""
    return [
        m.message_id
        for m in await bot.services.store.last_in_channel(channel_id, 10_000)
        if not m.from_bot
    ]


def sent_after(discord: FakeDiscord, channel_id: int, message: dict[str, Any]) -> list[JSON]:
    """What the bot sent to the channel after `message`."""
    return [
        m
        for m in discord.sent_messages
        if int(m["channel_id"]) == channel_id and int(m["id"]) > int(message["id"])
    ]


async def post_many(
    discord: FakeDiscord, channel_id: int, authors: list[FakeUser], count: int, prefix: str
) -> list[JSON]:
    """`count` messages "prefix 1", "prefix 2", ... by the authors in turn."""
    return [
        await discord.post_message(channel_id, authors[n % len(authors)], f"{prefix} {n + 1}")
        for n in range(count)
    ]


PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Every table the PostgreSQL store writes (tests/postgres_server.py empties them all).
STORE_TABLES = ("messages", "counted_messages", "channel_counters", "state", "store_meta")


@contextlib.asynccontextmanager
async def store_of(settings: Settings) -> AsyncIterator[SqliteStore | PostgresStore]:
    """The store the bot opens with these settings, opened on its own (the bot stopped): to
    prepare what it finds at start, or to look at what it left."""
    store: SqliteStore | PostgresStore
    if settings.database_url:
        store = await open_postgres(settings)
    else:
        store = await open_sqlite(settings)
    try:
        yield store
    finally:
        await store.close()


def _file_texts(data_dir: Path) -> list[str]:
    """Every file's text. A file that goes between the listing and the read (a temporary file
    the store has just renamed into place) makes it read them all again: the file it became
    may not have been listed."""
    while True:
        try:
            return [p.read_text(errors="replace") for p in data_dir.rglob("*") if p.is_file()]
        except FileNotFoundError:
            continue


async def stored_text(settings: Settings) -> str:
    """Everything the bot's store holds, as text: the files of DATA_DIR (embedded), or every
    row of every table (PostgreSQL, with DATABASE_URL)."""
    if not settings.database_url:
        return "\n".join(_file_texts(settings.data_dir))
    connection = await asyncpg.connect(settings.database_url.reveal())
    try:
        rows = [
            row
            for table in STORE_TABLES
            for row in await connection.fetch(f"SELECT t::text AS line FROM {table} t")
        ]
    finally:
        await connection.close()
    return "\n".join(row["line"] for row in rows)


def start_writer(script: str, data_dir: Path) -> subprocess.Popen[str]:
    """A child Python process running `script` on `data_dir`, printing one line per
    acknowledged step: the tests read its lines, then kill -9 it."""
    return subprocess.Popen(
        [sys.executable, "-c", script, str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


def kill_9(child: subprocess.Popen[str]) -> list[str]:
    """Kill the child; returns the lines it printed that the test had not read yet (steps it
    acknowledged while the test was reading the earlier ones)."""
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    if child.stdout is None:
        return []
    unread = child.stdout.read().splitlines()
    child.stdout.close()
    return unread


def process_environment(settings: Settings, discord: FakeDiscord, **extra: str) -> dict[str, str]:
    """What an operator's .env holds, for a real `python -m app` against the fakes."""
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(PROJECT_ROOT),
        "DISCORD_TOKEN": settings.discord_token.reveal(),
        "CHANNEL_ID": ",".join(str(c) for c in settings.channel_ids),
        "GUILD_ID": str(GUILD_ID),
        "AZURE_OPENAI_API_KEY": settings.azure_openai_api_key.reveal(),
        "AZURE_OPENAI_ENDPOINT": settings.azure_openai_endpoint,
        "AZURE_OPENAI_DEPLOYMENT": settings.azure_openai_deployment,
        "DISCORD_API_BASE": discord.rest_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATA_DIR": str(settings.data_dir),
        "PERSONA_MIN_MINUTES": str(settings.persona_min_minutes),
        **extra,
    }


async def run_app(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """`python -m app ARGS` in a child process, its output piped for the test to read."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
