"""`python -m app sync` against the fake Discord: HTTP only, one clear line on failure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.settings import Secret, Settings
from app.sync import sync_commands
from tests.fakes.discord_server import FakeDiscord
from tests.harness import GUILD_ID


async def test_sync_to_the_guild_prints_each_command(
    fake_discord: FakeDiscord, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    connections = fake_discord.identify_count
    assert await sync_commands(settings, guild_id=GUILD_ID, clear=False) == 0
    out = capsys.readouterr().out
    synced = fake_discord.synced_commands[GUILD_ID]
    assert out.splitlines()[0] == f"Synced {len(synced)} command(s) to guild {GUILD_ID}:"
    for command in synced:
        assert f"/{command['name']}: " in out
    assert fake_discord.identify_count == connections  # never touched the gateway


async def test_sync_clear_removes_the_guild_commands(
    fake_discord: FakeDiscord, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await sync_commands(settings, guild_id=GUILD_ID, clear=True) == 0
    assert fake_discord.synced_commands[GUILD_ID] == []
    assert capsys.readouterr().out.strip() == f"Cleared the slash commands of guild {GUILD_ID}."


async def test_sync_globally(
    fake_discord: FakeDiscord, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await sync_commands(settings, guild_id=None, clear=False) == 0
    assert "to all guilds (global)" in capsys.readouterr().out
    assert None in fake_discord.synced_commands


async def test_a_bad_token_is_one_line(
    fake_discord: FakeDiscord, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = replace(settings, discord_token=Secret("not-the-token"))
    assert await sync_commands(bad, guild_id=GUILD_ID, clear=False) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "DISCORD_TOKEN was rejected by Discord: check it (see .env.example)."
    )
    assert "Traceback" not in captured.err + captured.out


async def test_an_unknown_guild_is_one_line(
    fake_discord: FakeDiscord, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await sync_commands(settings, guild_id=123456789, clear=False) == 1
    assert capsys.readouterr().err.strip() == (
        "Guild 123456789 was not found: check the id and that the bot is in it."
    )
