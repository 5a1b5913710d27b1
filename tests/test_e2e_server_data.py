"""A server's data, end to end: removed from a server, the bot deletes everything of it once
SERVER_DATA_GRACE_HOURS are over (never for an outage), keeps it when added back meanwhile,
finds at start a removal it missed while stopped; `/setup forget-server` deletes a server's
messages, profiles and usage at once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.bot import AzureBot
from app.settings import Settings
from tests.conftest import on_both_stores
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import (
    ALICE,
    BRUNO,
    GENERAL,
    GUILD_ID,
    MODERATOR,
    OFFTOPIC,
    eventually,
    running_bot,
    store_of,
    stored_text,
)
from tests.privacy_seed import held_by, message_text, profile_text, seed_server

JSON = dict[str, Any]
EVERYTHING = [
    "messages",
    "usage",
    "persona",
    "privacy",
    "bot_replies",
    "guild_settings",
    "music_queue",
]
# Servers of these tests' own (the fake Discord is shared by the whole run).
LEAVING = 940_000_000_000_000_001
LEAVING_CHANNEL = 940_000_000_000_000_002
OUTAGE = 940_000_000_000_000_011
OUTAGE_CHANNEL = 940_000_000_000_000_012
BACK = 940_000_000_000_000_021
BACK_CHANNEL = 940_000_000_000_000_022
GONE_WHILE_STOPPED = 940_000_000_000_000_031  # in the store, not in Discord any more


def store(bot: AzureBot) -> Any:
    return bot.services.store


@on_both_stores
async def test_a_removed_server_is_deleted_and_an_outage_is_not(
    fake_discord: FakeDiscord,
    fake_azure: FakeAzureOpenAI,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.privacy.server_data")
    fake_discord.add_guild(LEAVING, "leaving", {LEAVING_CHANNEL: "chat"})
    fake_discord.add_guild(OUTAGE, "outage", {OUTAGE_CHANNEL: "chat"})
    async with store_of(settings) as seeding:
        await seed_server(seeding, LEAVING, LEAVING_CHANNEL, [ALICE.id, BRUNO.id], first_id=7_000)
        await seed_server(seeding, OUTAGE, OUTAGE_CHANNEL, [ALICE.id], first_id=7_100)
    try:
        async with running_bot(fake_discord, settings, server_data_grace_hours=0.0) as bot:
            await eventually(lambda: _has_guild(bot, OUTAGE))
            await fake_discord.remove_guild(OUTAGE, unavailable=True)
            await fake_discord.remove_guild(LEAVING)  # handled after the outage's event

            async def leaving_gone() -> bool:
                return await held_by(store(bot), LEAVING) == []

            await eventually(leaving_gone)
            assert await held_by(store(bot), OUTAGE) == EVERYTHING
            assert await bot.services.server_departures.pending() == []
            assert await store(bot).channel_count(LEAVING_CHANNEL) == 0
            assert await store(bot).channel_count(OUTAGE_CHANNEL) == 3
        text = await stored_text(settings)
    finally:
        await fake_discord.remove_guild(OUTAGE)
    assert message_text(LEAVING, ALICE.id, 0) not in text
    assert profile_text(LEAVING, BRUNO.id) not in text
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if f"guild {LEAVING} scheduled" in line]
    assert [line for line in lines if line.startswith(f"server data: guild {LEAVING} deleted")]
    assert not [line for line in lines if line.startswith("server data:") and str(OUTAGE) in line]


async def test_a_server_added_back_within_the_grace_keeps_its_data_and_a_missed_removal_is_found(
    fake_discord: FakeDiscord,
    fake_azure: FakeAzureOpenAI,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.privacy.server_data")
    fake_discord.add_guild(BACK, "back", {BACK_CHANNEL: "chat"})
    async with store_of(settings) as seeding:
        await seed_server(seeding, BACK, BACK_CHANNEL, [ALICE.id], first_id=8_000)
        await seed_server(seeding, GONE_WHILE_STOPPED, 1, [BRUNO.id], first_id=8_100)
        await seed_server(seeding, GUILD_ID, OFFTOPIC, [BRUNO.id], first_id=8_200)
    try:
        async with running_bot(fake_discord, settings) as bot:  # the default grace: 24 hours
            departures = bot.services.server_departures

            async def pending() -> set[int]:
                return {d.guild_id for d in await departures.pending()}

            # At start: held, not listed by Discord, and Discord answers 404 for it.
            await eventually(lambda: _is(pending, {GONE_WHILE_STOPPED}))
            await eventually(lambda: _has_guild(bot, BACK))
            await fake_discord.remove_guild(BACK)
            await eventually(lambda: _is(pending, {GONE_WHILE_STOPPED, BACK}))
            await fake_discord.join_guild(BACK, "back", {BACK_CHANNEL: "chat"})
            await eventually(lambda: _is(pending, {GONE_WHILE_STOPPED}))
            assert await held_by(store(bot), BACK) == EVERYTHING
            assert await held_by(store(bot), GUILD_ID) == EVERYTHING
            [gone] = await departures.pending()
            assert 23.9 * 3600 < (gone.due_at - gone.left_at).total_seconds() <= 24 * 3600
    finally:
        await fake_discord.remove_guild(BACK)
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if f"guild {GONE_WHILE_STOPPED} scheduled" in line]
    assert [line for line in lines if "Discord answers 404" in line]
    assert [line for line in lines if f"guild {BACK} cancelled" in line]


@on_both_stores
async def test_forget_server_deletes_its_messages_profiles_and_usage_after_the_button(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    async with store_of(settings) as seeding:
        await seed_server(seeding, GUILD_ID, OFFTOPIC, [ALICE.id, BRUNO.id], first_id=9_000)
    async with running_bot(fake_discord, settings) as bot:
        asked = await fake_discord.send_interaction(
            "setup",
            user=MODERATOR,
            channel_id=GENERAL,
            options=[{"name": "forget-server", "type": 1, "options": []}],
        )
        question = (await asked.wait_for_response())["message"]
        assert question["flags"] & 64
        assert "cannot be undone" in question["content"]
        await fake_discord.click_button(question, "setup:forget-server:yes", user=MODERATOR)
        done = await asked.wait_for(
            lambda r: r["kind"] == "edit_original" and "Done" in r["payload"].get("content", "")
        )
        held = await held_by(store(bot), GUILD_ID)
    assert "6 messages and 2 profiles" in done["payload"]["content"]
    # Its settings and its members' choices stay: the bot still serves the server.
    assert held == ["privacy", "guild_settings", "music_queue"]


async def _has_guild(bot: AzureBot, guild_id: int) -> bool:
    return bot.get_guild(guild_id) is not None


async def _is(read: Any, expected: set[int]) -> bool:
    return bool(await read() == expected)
