from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import Secret, SettingsError, load_settings

REQUIRED = {
    "DISCORD_TOKEN": "token-abcdef-123456",
    "CHANNEL_ID": "111, 222",
    "AZURE_OPENAI_API_KEY": "azure-key-abcdef",
    "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com/",
    "AZURE_OPENAI_DEPLOYMENT": "gpt-test",
}


def test_reads_required_and_defaults() -> None:
    settings = load_settings(dict(REQUIRED))
    assert settings.channel_ids == frozenset({111, 222})
    assert settings.azure_openai_endpoint == "https://example.openai.azure.com"
    assert settings.reply_every == 5
    assert settings.context_messages == 5
    assert settings.persona_messages == 30
    assert settings.retention_days == 30
    assert settings.guild_id is None
    assert settings.data_dir == Path("data")
    assert not settings.speech_configured


def test_every_problem_is_reported_once_by_name() -> None:
    env = {"CHANNEL_ID": "abc", "REPLY_EVERY": "0", "LOG_LEVEL": "loud", "GUILD_ID": "-4"}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    problems = caught.value.problems
    named = [p.split(" ", 1)[0] for p in problems]
    assert named == [
        "DISCORD_TOKEN",
        "CHANNEL_ID",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_DEPLOYMENT",
        "GUILD_ID",
        "REPLY_EVERY",
        "LOG_LEVEL",
    ]
    assert all(".env.example" in p for p in problems)


def test_secrets_never_show_in_reprs() -> None:
    settings = load_settings({**REQUIRED, "ELEVENLABS_API_KEY": "eleven-secret-xyz"})
    text = repr(settings) + str(settings)
    for secret in ("token-abcdef-123456", "azure-key-abcdef", "eleven-secret-xyz"):
        assert secret not in text
    assert settings.discord_token.reveal() == "token-abcdef-123456"
    assert f"{Secret('hunter22')}" == "Secret('***')"


def test_settings_are_frozen() -> None:
    settings = load_settings(dict(REQUIRED))
    with pytest.raises(AttributeError):
        settings.reply_every = 3  # type: ignore[misc]


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in REQUIRED.items()) + "REPLY_EVERY=7\n")
    os.environ["REPLY_EVERY"] = "9"
    try:
        settings = load_settings(env_file=env_file)
    finally:
        del os.environ["REPLY_EVERY"]
    assert settings.reply_every == 9
    assert settings.azure_openai_deployment == "gpt-test"


def test_the_bot_names_missing_settings_without_a_traceback(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "CHANNEL_ID": "12x"}
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("DISCORD_TOKEN is missing")
    assert lines[1].startswith("CHANNEL_ID is malformed ('12x')")
    assert "Traceback" not in result.stderr


def test_voice_settings_are_read_and_the_test_only_ones_are_not() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "VOICE_IDLE_SECONDS": "30",
            "SAY_COOLDOWN_SECONDS": "0",
            "ELEVENLABS_TIMEOUT": "5",
            "MUSIC_ALLOW_PRIVATE_HOSTS": "1",
            "MUSIC_GENERIC_EXTRACTOR": "1",
        }
    )
    assert settings.voice_idle_seconds == 30.0
    assert settings.say_cooldown_seconds == 0
    assert settings.elevenlabs_timeout == 5.0
