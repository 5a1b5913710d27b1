"""Self-tests of the fake Discord's shards: real discord.py `AutoShardedClient`s over loopback.

Two guilds on different shards of two; a client per shard gets its own guild only, and the
events of that guild only; an unsharded client gets both.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord

from tests.fakes.discord_server import FakeDiscord, FakeUser

TOKEN = "test-token-shards"
APP_ID = 910000000000000001
GUILD_A = (1000 << 22) | 11  # shard 0 of 2
GUILD_B = (1001 << 22) | 12  # shard 1 of 2
CHANNEL_A = 910000000000000003
CHANNEL_B = 910000000000000004
BOT = FakeUser(910000000000000005, "shardbot", bot=True)
ALICE = FakeUser(910000000000000006, "alice", "Alice")
READY_TIMEOUT = 0.05  # see tests/test_fake_discord.py


class ShardClient(discord.AutoShardedClient):
    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        intents.members = True
        super().__init__(intents=intents, guild_ready_timeout=READY_TIMEOUT, **options)
        self.inbox: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None

    async def on_message(self, message: discord.Message) -> None:
        await self.inbox.put(message)


def make_fake() -> FakeDiscord:
    fake = FakeDiscord(
        token=TOKEN,
        application_id=APP_ID,
        bot_user=BOT,
        guild_id=GUILD_A,
        guild_name="Guild A",
        text_channels={CHANNEL_A: "a-general"},
        members=[ALICE],
    )
    fake.add_guild(GUILD_B, "Guild B", {CHANNEL_B: "b-general"})
    return fake


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, **options: Any) -> AsyncIterator[ShardClient]:
    client = ShardClient(**options)
    await client.login(TOKEN)
    task = asyncio.create_task(client.connect(reconnect=True))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 10)
        yield client
    finally:
        await client.close()
        await task


async def test_each_shard_gets_its_own_guilds_and_their_events_only() -> None:
    async with make_fake() as fake:
        with fake.install():
            async with (
                running(fake, shard_count=2, shard_ids=[0]) as zero,
                running(fake, shard_count=2, shard_ids=[1]) as one,
            ):
                assert sorted(fake.ready_shards()) == [(0, 2), (1, 2)]
                assert [g.id for g in zero.guilds] == [GUILD_A]
                assert [g.id for g in one.guilds] == [GUILD_B]
                guild_b = one.get_guild(GUILD_B)
                assert guild_b is not None and guild_b.name == "Guild B"
                assert [c.id for c in guild_b.text_channels] == [CHANNEL_B]
                assert guild_b.default_role.id == GUILD_B
                assert guild_b.get_member(ALICE.id) is not None

                in_b = await fake.post_message(CHANNEL_B, ALICE, "on shard one")
                got = await asyncio.wait_for(one.inbox.get(), 5)
                assert got.id == int(in_b["id"]) and got.guild == guild_b
                in_a = await fake.post_message(CHANNEL_A, ALICE, "on shard zero")
                got = await asyncio.wait_for(zero.inbox.get(), 5)
                assert got.id == int(in_a["id"])
                assert zero.inbox.empty() and one.inbox.empty()  # nothing crossed over

                channel = one.get_channel(CHANNEL_B)
                assert isinstance(channel, discord.TextChannel)
                await channel.send("answered from shard one")
                echo = await asyncio.wait_for(one.inbox.get(), 5)
                assert echo.content == "answered from shard one"
                assert zero.inbox.empty()
        identified = [p["shard"] for p in fake.identify_payloads]
        assert sorted(identified) == [[0, 2], [1, 2]]


async def test_a_client_that_runs_every_shard_gets_every_guild() -> None:
    async with make_fake() as fake:
        with fake.install():
            async with running(fake, shard_count=2) as both:
                assert sorted(g.id for g in both.guilds) == [GUILD_A, GUILD_B]
            async with running(fake) as unsharded:  # asks GET /gateway/bot: one shard
                assert sorted(g.id for g in unsharded.guilds) == [GUILD_A, GUILD_B]


async def test_gateway_bot_reports_the_shards_and_the_session_start_limit() -> None:
    async with make_fake() as fake:
        fake.recommended_shards = 4
        fake.session_start_limit = {**fake.session_start_limit, "max_concurrency": 16}
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{fake.rest_base}/gateway/bot", headers={"Authorization": f"Bot {TOKEN}"}
            ) as response,
        ):
            body = await response.json()
    assert body["shards"] == 4
    assert body["url"] == fake.gateway_url
    assert body["session_start_limit"] == {
        "total": 1000,
        "remaining": 999,
        "reset_after": 14400000,
        "max_concurrency": 16,
    }
