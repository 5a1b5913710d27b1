"""`python -m app invite` against the fake Discord: the URL, its permissions, the intent to
enable, and every failure in one line."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from app.invite import print_invite
from app.main import main
from app.settings import VARIABLES, DiscordAccess, Secret
from services.discord_permissions import CHAT_PERMISSIONS, VOICE_PERMISSIONS
from tests.fakes.discord_server import FakeDiscord
from tests.harness import APPLICATION_ID, DISCORD_TOKEN, PROJECT_ROOT, run_app

INTENT = (
    "Enable Message Content Intent in the Developer Portal (your application > Bot > "
    "Privileged Gateway Intents): Discord refuses the bot otherwise."
)


def checked_permissions() -> int:
    """The bitwise OR of every permission `python -m app check` requires, chat and voice."""
    bits = 0
    for bit in {*CHAT_PERMISSIONS.values(), *VOICE_PERMISSIONS.values()}:
        bits |= bit
    return bits


def access(
    fake_discord: FakeDiscord, *, token: str = DISCORD_TOKEN, api_base: str | None = None
) -> DiscordAccess:
    """What `python -m app invite` reads from .env, pointed at the fake Discord."""
    return DiscordAccess(
        discord_token=Secret(token), discord_api_base=api_base or fake_discord.rest_base
    )


async def test_python_m_app_invite_needs_only_the_token(fake_discord: FakeDiscord) -> None:
    """No CHANNEL_ID, no Azure: the operator runs it before filling in the rest of .env."""
    before = len(fake_discord.requests)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(PROJECT_ROOT),
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "DISCORD_API_BASE": fake_discord.rest_base,
    }
    process = await run_app(env, "invite")
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode() + err.decode()
    assert err == b""
    permissions = checked_permissions()
    assert permissions == 274_881_137_664  # View Channel ... Speak, Send Messages in Threads
    assert out.decode().splitlines() == [
        "Open this URL to add the bot to a server (scopes bot and applications.commands; "
        "permissions View Channel, Send Messages, Send Messages in Threads, Read Message "
        "History, Embed Links, Connect, Speak):",
        f"https://discord.com/oauth2/authorize?client_id={APPLICATION_ID}"
        f"&scope=bot+applications.commands&permissions={permissions}",
        INTENT,
    ]
    [asked] = [r for r in fake_discord.requests[before:] if r.path == "/oauth2/applications/@me"]
    assert asked.method == "GET"
    assert asked.headers["Authorization"] == f"Bot {DISCORD_TOKEN}"
    assert DISCORD_TOKEN.encode() not in out + err


async def test_a_rejected_token_is_one_line(
    fake_discord: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await print_invite(access(fake_discord, token="not-the-token-123456"))
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "DISCORD_TOKEN was rejected by Discord: check it (see .env.example).\n"


async def test_discord_unreachable_is_one_line(
    fake_discord: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = "http://127.0.0.1:9/api/v10"  # nothing listens on 9
    assert await print_invite(access(fake_discord, api_base=nowhere)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("Could not reach Discord (")
    assert line.endswith("): check the network and DISCORD_API_BASE.")


async def test_a_discord_error_is_one_line(
    fake_discord: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_discord.fail_next(
        "GET",
        "/oauth2/applications/@me",
        status=500,
        body={"code": 0, "message": "500: Internal Server Error"},
    )
    assert await print_invite(access(fake_discord)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "Discord did not say the application's id (GET /oauth2/applications/@me: HTTP 500: "
        "500: Internal Server Error): try again later.\n"
    )


def test_a_missing_token_is_one_line_and_exit_2_like_every_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for setting in VARIABLES:
        monkeypatch.delenv(setting.env, raising=False)
    assert main(["invite"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "DISCORD_TOKEN is missing: set it in .env (see .env.example).\n"


def test_the_help_lists_invite(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    listed = [
        line.split()[0] for line in capsys.readouterr().out.splitlines() if line[:4] == " " * 4
    ]
    assert "invite" in listed
