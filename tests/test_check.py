"""`python -m app check` against the fake Discord, Azure and ElevenLabs: each ✗ and a green run."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from app.check import Report, check_database, run_checks
from app.main import main
from app.settings import NO_OPERATOR_CHANNELS, VARIABLES, Secret, Settings
from app.sync import sync_commands
from services.discord_permissions import SEND_MESSAGES
from services.store.postgres import migrate
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.harness import (
    AZURE_KEY,
    DISCORD_TOKEN,
    ELEVENLABS_KEY,
    GENERAL,
    GUILD_ID,
    process_environment,
    run_app,
)
from tests.postgres_server import PostgresDatabase


async def check(settings: Settings) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = await run_checks(settings, out)
    return code, out.getvalue().splitlines()


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines[:-1] if line.startswith("✗") and "(warning)" not in line]


@pytest.fixture(autouse=True)
def azure_answers_the_check(fake_azure: FakeAzureOpenAI) -> None:
    """The deployment follows the check's schema, as a real one does."""
    fake_azure.responder = lambda body: '{"ok": true}'


@pytest.fixture
async def synced(fake_discord: FakeDiscord, settings: Settings) -> None:
    """The guild has the code's commands (another test may have cleared them)."""
    assert await sync_commands(settings, guild_id=GUILD_ID, clear=False) == 0


@contextmanager
def changed(fake: object, **values: object) -> Iterator[None]:
    """Set attributes of a shared fake for one test, then put them back."""
    old = {name: getattr(fake, name) for name in values}
    for name, value in values.items():
        setattr(fake, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(fake, name, value)


@pytest.mark.usefixtures("synced")
async def test_all_green(voice_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = await check(voice_settings)
    assert code == 0, "\n".join(lines)
    assert not [line for line in lines[:-1] if not line.startswith("✓")], "\n".join(lines)
    text = "\n".join(lines)
    for expected in (
        "✓ Settings: every variable loads",
        "✓ Discord: the token is accepted (bot Aria",
        "✓ Discord: the Message Content intent is enabled",
        f"✓ Discord: the bot is a member of guild Test Guild ({GUILD_ID})",
        f"✓ Discord: #general ({GENERAL}): the bot can read, send, embed and answer in threads",
        "✓ Discord: the bot can connect and speak in Lounge, Quiet room",
        "✓ Discord: the 12 slash commands published to the guild match the code",
        "✓ Azure OpenAI: deployment gpt-test answers a strict JSON schema with API version",
        "✓ ElevenLabs: the key is valid and voice Aria (fake) exists",
        "✓ Voice: FFmpeg found: ",
        "✓ Voice: libopus loads",
        "✓ Voice: the DAVE library is importable (davey ",
        "✓ Data: DATA_DIR ",
    ):
        assert expected in text
    assert lines[-1].endswith("0 failed, 0 warnings; everything required passed.")
    assert capsys.readouterr().err == ""  # nothing logged: no warm-up, no voice


@pytest.mark.usefixtures("synced")
async def test_the_v1_api_is_checked_on_its_own_path(
    settings: Settings, fake_azure: FakeAzureOpenAI
) -> None:
    code, lines = await check(replace(settings, azure_openai_api_version="v1"))
    assert code == 0, "\n".join(lines)
    assert "✓ Azure OpenAI: deployment gpt-test answers a strict JSON schema with the v1 API" in (
        lines
    )
    request, with_image = fake_azure.requests
    assert request["path"] == with_image["path"] == "/openai/v1/chat/completions"
    assert request["json"]["response_format"]["json_schema"]["strict"] is True
    assert request["images"] == [] and len(with_image["images"]) == 1  # does it take images?


async def test_a_rejected_token(settings: Settings) -> None:
    code, lines = await check(replace(settings, discord_token=Secret("not-the-token-123456")))
    assert code == 1
    [failure] = failures(lines)
    assert failure.startswith("✗ Discord: the token was rejected (HTTP 401). Fix: Reset the token")


async def test_the_message_content_intent_off(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    with changed(fake_discord, application_flags=1 << 15):
        code, lines = await check(settings)
    assert code == 1
    assert (
        "✗ Discord: the Message Content intent is off, so the bot would read empty messages."
        in ("\n".join(failures(lines)))
    )


@pytest.mark.usefixtures("synced")
async def test_a_server_without_roles_in_the_guild_or_flags_passes_with_one_warning(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    """A Discord-compatible server nobody here wrote: the roles are only at their endpoint,
    and the application has no flags (issue 18)."""
    with fake_discord.foreign() as quirks:
        quirks.guild_without_roles = True
        quirks.application_without_flags = True
        code, lines = await check(settings)
    assert code == 0, "\n".join(lines)
    assert failures(lines) == []
    warnings = [line for line in lines if "(warning)" in line]
    assert warnings == [
        "✗ Discord: the application has no flags, so whether the Message Content intent is "
        "enabled is unknown (warning). Fix: Make sure the server delivers message content to "
        "the bot (on Discord: Message Content Intent in the Developer Portal, your application "
        "> Bot)."
    ]
    text = "\n".join(lines)
    assert f"✓ Discord: #general ({GENERAL}): the bot can read, send, embed" in text
    assert any(r.path == f"/guilds/{GUILD_ID}/roles" for r in fake_discord.requests)


async def test_the_bot_not_in_the_guild(fake_discord: FakeDiscord, settings: Settings) -> None:
    member = fake_discord.guild_members.pop(fake_discord.bot_user.id)
    try:
        code, lines = await check(settings)
    finally:
        fake_discord.guild_members[fake_discord.bot_user.id] = member
    assert code == 1
    [failure] = failures(lines)
    assert failure.startswith(f"✗ Discord: the bot is not a member of guild {GUILD_ID}. Fix: ")


@pytest.mark.usefixtures("synced")
async def test_an_overwrite_that_denies_send_messages(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    fake_discord.set_overwrite(GENERAL, fake_discord.bot_role_id, deny=SEND_MESSAGES)
    try:
        code, lines = await check(settings)
    finally:
        fake_discord.clear_overwrites(GENERAL)
    assert code == 1
    assert failures(lines) == [
        f"✗ Discord: #general ({GENERAL}): the bot lacks Send Messages. Fix: Allow them for the "
        "bot's role in the channel's permissions (Edit Channel > Permissions), or remove the "
        "overwrite that denies them."
    ]


async def test_an_unknown_channel(settings: Settings) -> None:
    code, lines = await check(replace(settings, channel_ids=frozenset({GENERAL, 4242})))
    assert code == 1
    assert "✗ Discord: channel 4242 does not exist. Fix: Correct CHANNEL_ID" in "\n".join(lines)


@pytest.mark.usefixtures("synced")
async def test_without_channel_id_servers_choose_their_channels(settings: Settings) -> None:
    code, lines = await check(replace(settings, channel_ids=frozenset()))
    assert code == 0, "\n".join(lines)
    assert f"✓ Discord: {NO_OPERATOR_CHANNELS}" in lines


async def test_commands_not_published(fake_discord: FakeDiscord, settings: Settings) -> None:
    assert await sync_commands(settings, guild_id=GUILD_ID, clear=True) == 0
    code, lines = await check(settings)
    assert code == 1
    [failure] = failures(lines)
    assert failure.startswith("✗ Discord: the slash commands of the guild differ from the code's")
    assert "missing /pause, /persona, /play" in failure
    assert failure.endswith("Fix: Run `python -m app sync`.")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"azure_openai_deployment": "no-such-deployment"},
            "✗ Azure OpenAI: there is no deployment named no-such-deployment (HTTP 404). Fix: "
            "Set AZURE_OPENAI_DEPLOYMENT",
        ),
        (
            {"azure_openai_api_key": Secret("wrong-azure-key-123456")},
            "✗ Azure OpenAI: the key was refused (HTTP 401). Fix: Copy a key",
        ),
        (
            {"azure_openai_fallback_deployment": "no-such-fallback"},
            "✗ Azure OpenAI: there is no fallback deployment named no-such-fallback (HTTP 404). "
            "Fix: Set AZURE_OPENAI_FALLBACK_DEPLOYMENT",
        ),
    ],
    ids=["404 deployment", "401 key", "404 fallback"],
)
@pytest.mark.usefixtures("synced")
async def test_azure_failures(settings: Settings, change: dict[str, object], expected: str) -> None:
    code, lines = await check(replace(settings, **change))  # type: ignore[arg-type]
    assert code == 1
    [failure] = failures(lines)
    assert failure.startswith(expected)


@pytest.mark.usefixtures("synced")
async def test_an_old_api_version_gets_json_objects_with_a_warning(settings: Settings) -> None:
    code, lines = await check(replace(settings, azure_openai_api_version="2024-06-01"))
    assert code == 0, "\n".join(lines)
    assert (
        "✗ Azure OpenAI: deployment gpt-test has no strict JSON schema (API version 2024-06-01 "
        "has no structured outputs) and answers JSON objects (json_object), which the bot "
        "checks against the schema itself (warning). Fix: Set AZURE_OPENAI_API_VERSION to v1, "
        "or to 2024-10-21 or later."
    ) in lines


@pytest.mark.usefixtures("synced")
async def test_the_fallback_deployment_is_checked_too(settings: Settings) -> None:
    code, lines = await check(replace(settings, azure_openai_fallback_deployment="gpt-fallback"))
    assert code == 0, "\n".join(lines)
    assert (
        "✓ Azure OpenAI: fallback deployment gpt-fallback answers a strict JSON schema with "
        "API version 2024-10-21"
    ) in lines


@pytest.mark.usefixtures("synced")
async def test_an_openai_compatible_server_says_which_json_it_answers(
    settings: Settings, fake_azure: FakeAzureOpenAI
) -> None:
    server = replace(
        settings,
        azure_openai_api_key=Secret(""),
        azure_openai_endpoint="",
        azure_openai_deployment="",
        openai_base_url=fake_azure.openai_base_url,
        openai_api_key=Secret(AZURE_KEY),
        openai_model="gpt-test",
    )
    code, lines = await check(server)
    assert code == 0, "\n".join(lines)
    assert (
        "✓ OpenAI-compatible server: model gpt-test answers a strict JSON schema (json_schema)"
        in lines
    )
    fake_azure.json_object_only = True
    code, lines = await check(server)
    assert code == 0, "\n".join(lines)
    assert (
        "✓ OpenAI-compatible server: model gpt-test has no strict JSON schema and answers JSON "
        "objects (json_object), which the bot checks against the schema itself"
    ) in lines
    assert {r["api"] for r in fake_azure.requests} == {"openai"}
    code, lines = await check(replace(server, openai_model="llama-nowhere"))
    assert code == 1
    [failure] = failures(lines)
    assert failure.startswith(
        "✗ OpenAI-compatible server: the server has no model named llama-nowhere (HTTP 404). "
        "Fix: Set OPENAI_MODEL"
    )


@pytest.mark.usefixtures("synced")
async def test_a_deployment_that_rejects_temperature_is_a_warning(
    settings: Settings, fake_azure: FakeAzureOpenAI
) -> None:
    fake_azure.reject_temperature_always = True
    code, lines = await check(settings)
    assert code == 0
    assert any(
        line.startswith("✗ Azure OpenAI: deployment gpt-test rejects `temperature`")
        and "(warning)" in line
        for line in lines
    )
    assert "✓ Azure OpenAI: deployment gpt-test answers a strict JSON schema" in "\n".join(lines)


@pytest.mark.usefixtures("synced")
async def test_a_deployment_without_vision_is_a_warning(
    settings: Settings, fake_azure: FakeAzureOpenAI
) -> None:
    fake_azure.refuse_images = True
    code, lines = await check(settings)
    assert code == 0
    assert any(
        line.startswith("✗ Azure OpenAI: deployment gpt-test takes no images")
        and "(warning)" in line
        for line in lines
    )
    assert "✓ Azure OpenAI: deployment gpt-test answers a strict JSON schema" in "\n".join(lines)
    # VISION_MAX_IMAGES=0: images are never sent, so nothing to check.
    fake_azure.reset()
    fake_azure.refuse_images = True
    code, lines = await check(replace(settings, vision_max_images=0))
    assert not any("takes no images" in line for line in lines)
    assert all(request["images"] == [] for request in fake_azure.requests)


@pytest.mark.parametrize(
    ("failure", "voice", "expected"),
    [
        ("invalid_api_key", None, "✗ ElevenLabs: the key was refused (HTTP 401, invalid_api_key)"),
        ("quota_exceeded", None, "✗ ElevenLabs: the key is valid but its quota is used up"),
        (None, "no-such-voice", "✗ ElevenLabs: voice no-such-voice does not exist"),
    ],
    ids=["bad key", "quota", "unknown voice"],
)
@pytest.mark.usefixtures("synced")
async def test_elevenlabs_failures(
    voice_settings: Settings,
    fake_elevenlabs: FakeElevenLabs,
    failure: str | None,
    voice: str | None,
    expected: str,
) -> None:
    if failure == "invalid_api_key":
        voice_settings = replace(voice_settings, elevenlabs_api_key=Secret("bad-eleven-key-1234"))
    else:
        fake_elevenlabs.failure = failure  # type: ignore[assignment]
    if voice is not None:
        voice_settings = replace(voice_settings, elevenlabs_voice_id=voice)
    code, lines = await check(voice_settings)
    assert code == 1
    [line] = failures(lines)
    assert line.startswith(expected)


@pytest.mark.usefixtures("synced")
async def test_python_m_app_check_exits_0_and_prints_no_secret(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    env = process_environment(settings, fake_discord, ELEVENLABS_API_KEY=ELEVENLABS_KEY)
    env["ELEVENLABS_VOICE_ID"] = ""  # half configured: a warning, not a failure
    process = await run_app(env, "check")
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode() + err.decode()
    lines = out.decode().splitlines()
    assert lines[-1].endswith("0 failed, 1 warning; everything required passed.")
    assert any(
        line.startswith("✗ ElevenLabs: ELEVENLABS_VOICE_ID is unset, so /say is off (warning).")
        for line in lines
    )
    assert all(line[0] in "✓✗" for line in lines[:-1])
    for secret in (DISCORD_TOKEN, AZURE_KEY, ELEVENLABS_KEY):
        assert secret.encode() not in out + err


def test_bad_settings_are_the_same_one_line_errors_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for setting in VARIABLES:
        monkeypatch.delenv(setting.env, raising=False)
    monkeypatch.setenv("CHANNEL_ID", "1")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "key-0123456789")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt")
    monkeypatch.setenv("REPLY_EVERY", "often")
    assert main(["check"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "✗ Settings: DISCORD_TOKEN is missing: set it in .env (see .env.example). Fix: Correct "
        "it in .env.",
        "✗ Settings: REPLY_EVERY is malformed ('often'): expected a positive whole number; see "
        ".env.example. Fix: Correct it in .env.",
        "2 checks: 0 passed, 2 failed, 0 warnings; fix the ✗ above.",
    ]
    assert err == ""


async def test_a_current_database_passes_and_a_new_one_is_a_warning(
    settings: Settings, empty_postgres_database: PostgresDatabase
) -> None:
    with_db = replace(settings, database_url=Secret(empty_postgres_database.url))
    out = io.StringIO()
    report = Report(out)
    await check_database(with_db, report)
    assert out.getvalue().startswith("✗ Data: PostgreSQL is reachable; its schema is at version 0")
    assert "(warning). Fix: Run `python -m app migrate`" in out.getvalue()
    await migrate(empty_postgres_database.url)
    out = io.StringIO()
    await check_database(with_db, Report(out))
    assert out.getvalue().startswith("✓ Data: PostgreSQL is reachable and its schema is current")


async def test_an_unreachable_database_is_a_failure_without_its_password(
    settings: Settings,
) -> None:
    url = "postgresql://bot:db-password-0123456789@127.0.0.1:9/bot"  # nothing listens on 9
    out = io.StringIO()
    report = Report(out)
    await check_database(replace(settings, database_url=Secret(url)), report)
    assert report.finish() == 1
    text = out.getvalue()
    assert text.startswith("✗ Data: PostgreSQL (DATABASE_URL) could not be reached")
    assert "Fix: Check DATABASE_URL" in text
    assert "db-password-0123456789" not in text
