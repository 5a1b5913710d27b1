"""The bot's shard gate in one process, on the shared fake Discord and a PostgreSQL database:
the daily session budget, and a lease taken over while the bot runs."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from app.bot import AzureBot
from app.composition import open_services
from app.main import run_until_closed
from app.settings import Secret, Settings
from tests.fakes.discord_server import FakeDiscord
from tests.postgres_server import PostgresDatabase


async def test_below_the_session_start_floor_the_bot_does_not_connect(
    fake_discord: FakeDiscord, settings: Settings, postgres_database: PostgresDatabase
) -> None:
    settings = replace(settings, database_url=Secret(postgres_database.url))
    saved = fake_discord.session_start_limit
    fake_discord.session_start_limit = {**saved, "remaining": 3, "reset_after": 5_400_000}
    try:
        async with open_services(settings) as services, AzureBot(settings, services) as bot:
            identifies = fake_discord.identify_count
            line = await run_until_closed(bot, settings)
    finally:
        fake_discord.session_start_limit = saved
    assert line is not None and line.startswith(
        "Discord allows only 3 more session starts today (of 1000; the count resets in 1.5 h)"
    )
    assert fake_discord.identify_count == identifies
    assert await postgres_database.query("SELECT name FROM leases WHERE name LIKE 'shard%'") == []


async def test_a_shard_lease_taken_over_stops_the_bot_with_one_line(
    fake_discord: FakeDiscord, settings: Settings, postgres_database: PostgresDatabase
) -> None:
    settings = replace(
        settings, database_url=Secret(postgres_database.url), shard_lease_seconds=0.6
    )
    async with open_services(settings) as services, AzureBot(settings, services) as bot:
        identifies = fake_discord.identify_count
        running = asyncio.create_task(run_until_closed(bot, settings))
        await fake_discord.wait_for_state(
            lambda: fake_discord.identify_count > identifies and fake_discord.connected
        )
        assert bot.shard_count == 1 and bot.shard_ids == [0]  # Discord's recommended count
        # Another process got the lease (this one was cut off from the database meanwhile).
        await postgres_database.query(
            "UPDATE leases SET owner = 'elsewhere:1:ab', expires_at = now() + interval '1 minute' "
            "WHERE name = 'shard:0'"
        )
        line = await asyncio.wait_for(running, 10)
        assert bot.is_closed()
    assert line is not None and line.startswith(
        "Shard 0 was taken over by elsewhere:1:ab while this process ran it"
    )
    [held] = await postgres_database.query("SELECT owner FROM leases WHERE name = 'shard:0'")
    assert held["owner"] == "elsewhere:1:ab"  # the bot did not release someone else's lease
