"""The operator's commands stay quiet and clear: --help, sync's errors, the warm-up, presence."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import discord
import pytest

from app.main import parse_args
from app.settings import Settings
from app.sync import sync_commands
from commands.presence import PresenceCog
from services.voice.music_source import MusicResolver
from tests.fakes.discord_server import FakeDiscord
from tests.harness import APPLICATION_ID, GENERAL, GUILD_ID, eventually, running_bot

COMMANDS_PATH = f"/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands"


def test_help_lists_run_sync_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--help"])
    assert exited.value.code == 0
    listed = [
        line.split()[0] for line in capsys.readouterr().out.splitlines() if line[:4] == " " * 4
    ]
    assert listed[:3] == ["run", "sync", "check"]
    assert parse_args([]).command is None  # `run`, the default


async def test_the_warm_up_logs_nothing_at_info_or_above(
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolver = MusicResolver(allowed_hosts=("youtube.com",), max_seconds=60)
    try:
        with caplog.at_level(logging.DEBUG):
            await resolver.warm_up()
    finally:
        await resolver.close()
    ours = [r for r in caplog.records if r.name == "services.voice.yt_dlp_pool"]
    assert any(r.getMessage().startswith("yt-dlp: ") for r in ours), (
        "the warm-up's outcome is still there, at DEBUG"
    )
    assert all(r.levelno == logging.DEBUG for r in ours), [r.getMessage() for r in ours]


async def test_sync_builds_the_command_tree_only(
    settings: Settings, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert await sync_commands(settings, guild_id=GUILD_ID, clear=False) == 0
    assert not settings.data_dir.exists()  # the running bot's data is left alone
    assert not [r for r in caplog.records if r.name.startswith("services.voice.")]
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == f"Synced 12 command(s) to guild {GUILD_ID}:"
    assert err == ""


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {
                "code": 50035,
                "message": "Invalid Form Body",
                "errors": {
                    "0": {
                        "description": {
                            "_errors": [
                                {
                                    "code": "BASE_TYPE_BAD_LENGTH",
                                    "message": "Must be between 1 and 100 in length.",
                                }
                            ]
                        }
                    }
                },
            },
            f"Discord refused to sync to guild {GUILD_ID}: HTTP 400: Invalid Form Body In "
            "0.description: Must be between 1 and 100 in length.",
        ),
        (
            503,
            {"code": 0, "message": "Service Unavailable"},
            f"Discord refused to sync to guild {GUILD_ID}: HTTP 503: Service Unavailable",
        ),
    ],
    ids=["400", "503"],
)
async def test_sync_refusals_are_one_line_with_status_and_message(
    fake_discord: FakeDiscord,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: dict[str, object],
    expected: str,
) -> None:
    fake_discord.fail_next("PUT", COMMANDS_PATH, status=status, body=body)
    assert await sync_commands(settings, guild_id=GUILD_ID, clear=False) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [expected]
    assert out == ""


@contextmanager
def discord_at(base: str) -> Iterator[None]:
    old = discord.http.Route.BASE
    discord.http.Route.BASE = base
    try:
        yield
    finally:
        discord.http.Route.BASE = old


async def test_sync_connection_errors_are_one_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with discord_at("http://127.0.0.1:9/api/v10"):  # nothing listens: refused at once
        assert await sync_commands(settings, guild_id=GUILD_ID, clear=False) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("Could not reach Discord (")
    assert line.endswith("check the network and DISCORD_API_BASE.")


def _names(discord_fake: FakeDiscord) -> list[str]:
    return [p["activities"][0]["name"] for p in discord_fake.presences if p.get("activities")]


async def test_the_presence_line_is_sent_only_when_its_text_changes(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    earlier = len(_names(fake_discord))  # the lines of the bots of earlier tests
    async with running_bot(fake_discord, settings) as bot:
        await fake_discord.wait_for_state(
            lambda: "#general, #random" in _names(fake_discord)[earlier:]
        )
        cog = bot.get_cog("PresenceCog")
        assert isinstance(cog, PresenceCog)
        sent = len(fake_discord.presences)
        await cog.refresh()
        await cog.refresh()
        assert len(fake_discord.presences) == sent  # the same line: nothing sent
        renamed = {**fake_discord.channels[GENERAL], "name": "lounge"}
        await fake_discord.dispatch("CHANNEL_UPDATE", renamed)
        channel = bot.get_channel(GENERAL)
        assert isinstance(channel, discord.TextChannel)

        async def renamed_in_the_bot() -> bool:
            return channel.name == "lounge"

        await eventually(renamed_in_the_bot)
        await cog.refresh()
        await fake_discord.wait_for_state(lambda: len(fake_discord.presences) == sent + 1)
        assert _names(fake_discord)[-1] == "#lounge, #random"


async def test_a_presence_line_that_ends_the_session_is_backed_off_not_resent(
    fake_discord: FakeDiscord, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A Discord-compatible server closes the session on every presence update (issue 18)."""
    with fake_discord.foreign() as quirks:
        quirks.close_after_presence = 1000
        sent = len(fake_discord.presences)
        async with running_bot(fake_discord, settings):
            started = fake_discord.identify_count
            await fake_discord.wait_for_state(lambda: len(fake_discord.presences) == sent + 1)
            # The session it ended cannot RESUME: the bot IDENTIFYs a new one.
            await fake_discord.wait_for_state(
                lambda: fake_discord.identify_count > started and fake_discord.connected,
                timeout=20,
            )
            # Without the back-off the new session's line follows its READY at once.
            with pytest.raises(TimeoutError):
                await fake_discord.wait_for_state(
                    lambda: len(fake_discord.presences) > sent + 1, timeout=3
                )
            assert fake_discord.identify_count == started + 1
    [warning] = [r for r in caplog.records if "presence line was sent" in r.getMessage()]
    assert warning.getMessage().endswith("the next line waits 300 s")
