from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
import types
import typing
from pathlib import Path

import pytest

from app.settings import VARIABLES, Secret, Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]

# Fields of Settings that tests set directly and the environment never does.

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
    named = [p.split(" ", 1)[0] for p in problems[:-1]]
    assert named == ["DISCORD_TOKEN", "CHANNEL_ID", "GUILD_ID", "REPLY_EVERY", "LOG_LEVEL"]
    assert problems[-1] == (
        "The model is not set: set AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT and "
        "AZURE_OPENAI_DEPLOYMENT (Azure OpenAI), or OPENAI_BASE_URL, OPENAI_API_KEY and "
        "OPENAI_MODEL (an OpenAI-compatible server such as Ollama); see .env.example."
    )
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
    assert len(lines) == 3
    assert lines[0].startswith("DISCORD_TOKEN is missing")
    assert lines[1].startswith("CHANNEL_ID is malformed ('12x')")
    assert lines[2].startswith("The model is not set")
    assert "Traceback" not in result.stderr


OPENAI_SET = {
    "OPENAI_BASE_URL": "http://localhost:11434/v1/",
    "OPENAI_API_KEY": "ollama",
    "OPENAI_MODEL": "llama3.2",
}
WITHOUT_AZURE = {k: v for k, v in REQUIRED.items() if not k.startswith("AZURE_")}


def test_an_openai_compatible_server_replaces_azure() -> None:
    settings = load_settings({**WITHOUT_AZURE, **OPENAI_SET})
    server = settings.model_server
    assert (server.url, server.api_key, server.is_azure) == (
        "http://localhost:11434/v1",
        "ollama",
        False,
    )
    assert settings.model_name == "llama3.2"
    assert "ollama" not in repr(settings) + repr(server)
    azure = load_settings(dict(REQUIRED))
    assert azure.model_server.is_azure and azure.model_name == "gpt-test"
    assert azure.model_server.api_version == "2024-10-21"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {**WITHOUT_AZURE, "AZURE_OPENAI_API_KEY": "azure-key-abcdef"},
            "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT are missing: the Azure OpenAI set "
            "needs AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT; see "
            ".env.example.",
        ),
        (
            {**WITHOUT_AZURE, "OPENAI_BASE_URL": "http://localhost:11434/v1", "OPENAI_MODEL": "m"},
            "OPENAI_API_KEY is missing: the OpenAI-compatible server set needs OPENAI_BASE_URL, "
            "OPENAI_API_KEY and OPENAI_MODEL; see .env.example.",
        ),
        (
            {**REQUIRED, "OPENAI_API_KEY": "sk-abcdef"},
            "Both model sets are given (AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT and "
            "AZURE_OPENAI_DEPLOYMENT for the Azure OpenAI set; OPENAI_API_KEY for the "
            "OpenAI-compatible server set): keep one set and unset the other; see .env.example.",
        ),
        (
            {**WITHOUT_AZURE, **OPENAI_SET, "AZURE_OPENAI_FALLBACK_DEPLOYMENT": "gpt-4o-mini"},
            "AZURE_OPENAI_FALLBACK_DEPLOYMENT is for the Azure OpenAI set, not OPENAI_*: unset "
            "it; see .env.example.",
        ),
    ],
    ids=["half Azure", "half OpenAI", "both", "fallback without Azure"],
)
def test_the_model_sets_are_one_whole_set_or_one_line(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.problems == [problem]
    assert "sk-abcdef" not in problem and "azure-key-abcdef" not in problem


def test_both_model_sets_stop_the_bot_with_one_line(tmp_path: Path) -> None:
    env = {**REQUIRED, **OPENAI_SET, "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Both model sets are given")
    assert "azure-key-abcdef" not in result.stderr and "ollama" not in line


def test_voice_settings_are_read() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "VOICE_IDLE_SECONDS": "30",
            "SAY_COOLDOWN_SECONDS": "0",
            "ELEVENLABS_TIMEOUT": "5",
        }
    )
    assert settings.voice_idle_seconds == 30.0
    assert settings.say_cooldown_seconds == 0
    assert settings.elevenlabs_timeout == 5.0


def test_the_table_declares_every_field_once_with_its_default() -> None:
    declared = [setting.field for setting in VARIABLES]
    assert len(set(declared)) == len(declared)
    assert len({setting.env for setting in VARIABLES}) == len(VARIABLES)
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    assert set(declared) == set(fields)
    for setting in VARIABLES:
        default = fields[setting.field].default
        if setting.required:
            assert default is dataclasses.MISSING, setting.env
        else:
            assert default == setting.default, setting.env


def _has_type(value: object, hint: object) -> bool:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_has_type(value, arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint) or hint
    assert isinstance(origin, type)
    if origin is float:
        return isinstance(value, float)
    return isinstance(value, origin)


def test_declared_defaults_have_the_field_types_and_read_back_from_their_text() -> None:
    hints = typing.get_type_hints(Settings)
    for setting in VARIABLES:
        if setting.required:
            continue
        assert _has_type(setting.default, hints[setting.field]), setting.env
        if setting.default_text:  # what the docs show parses back to the default
            assert setting.parse(setting.default_text) == setting.default, setting.env


ENV_LINE = re.compile(r"^(?P<commented># )?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def test_env_example_lists_the_declared_variables_with_their_defaults_and_help() -> None:
    """Required variables are `NAME=`; optional ones `# NAME=default`, each under its help."""
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    found: dict[str, tuple[bool, str, str]] = {}
    for number, line in enumerate(lines):
        match = ENV_LINE.match(line)
        if match is None:
            continue
        above: list[str] = []  # the comment lines right above, its help among them
        for previous in reversed(lines[:number]):
            if not previous.startswith("#") or ENV_LINE.match(previous):
                break
            above.insert(0, previous.removeprefix("#").strip())
        assert match["name"] not in found, f"{match['name']} is listed twice"
        found[match["name"]] = (bool(match["commented"]), match["value"], " ".join(above))
    assert set(found) == {setting.env for setting in VARIABLES}
    for setting in VARIABLES:
        commented, value, comment = found[setting.env]
        # Both model sets are listed to fill in (a blank value is unset).
        listed = setting.required or bool(setting.one_of)
        assert (commented, value) == (not listed, setting.default_text), setting.env
        assert setting.help in comment, setting.env


def test_readme_table_lists_the_declared_variables_with_their_defaults_and_help() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    found: dict[str, tuple[str, str]] = {}
    for row in rows:
        name, default, meaning = (cell.strip() for cell in row.strip("|").split(" | "))
        assert name.strip("`") not in found, f"{name} is listed twice"
        found[name.strip("`")] = (default, meaning)
    assert set(found) == {setting.env for setting in VARIABLES}
    for setting in VARIABLES:
        if setting.required:
            default = "required"
        elif setting.one_of:
            default = "one set required"
        else:
            default = f"`{setting.default_text}`" if setting.default_text else "unset"
        assert found[setting.env] == (default, setting.help), setting.env


def test_threads_and_catch_up_settings_are_read() -> None:
    settings = load_settings({**REQUIRED, "WATCH_THREADS": "off", "CATCHUP_MESSAGES": "0"})
    assert (settings.watch_threads, settings.catchup_messages) == (False, 0)
    assert load_settings(dict(REQUIRED)).watch_threads is True
    with pytest.raises(SettingsError) as caught:
        load_settings({**REQUIRED, "WATCH_THREADS": "maybe"})
    assert caught.value.problems == [
        "WATCH_THREADS is malformed ('maybe'): expected true or false; see .env.example."
    ]


def test_shard_settings_are_read() -> None:
    assert load_settings(dict(REQUIRED)).shard_count is None
    assert load_settings(dict(REQUIRED)).shard_ids is None
    db = {"DATABASE_URL": "postgresql://bot@db/bot"}
    for written, ids in (("0-3", (0, 1, 2, 3)), ("2, 0", (0, 2)), ("0-1,3", (0, 1, 3))):
        settings = load_settings({**REQUIRED, **db, "SHARD_COUNT": "4", "SHARD_IDS": written})
        assert (settings.shard_count, settings.shard_ids) == (4, ids)
    one = load_settings({**REQUIRED, "SHARD_COUNT": "2", "SHARD_LEASE_SECONDS": "5"})
    assert (one.shard_count, one.shard_ids, one.shard_lease_seconds) == (2, None, 5.0)
    # All the shards in one process: the embedded store will do.
    assert load_settings({**REQUIRED, "SHARD_COUNT": "2", "SHARD_IDS": "0-1"}).shard_ids == (0, 1)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"SHARD_IDS": "3-1", "SHARD_COUNT": "4"},
            "SHARD_IDS is malformed ('3-1'): expected shard",
        ),
        ({"SHARD_IDS": "a"}, "SHARD_IDS is malformed ('a')"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT is malformed ('0')"),
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_IDS": "1-2", "SHARD_COUNT": "2"}, "SHARD_IDS names shard(s) 2, but shards go"),
        ({"SHARD_IDS": "1", "SHARD_COUNT": "2"}, "SHARD_IDS runs only some of the shards"),
    ],
)
def test_shard_settings_that_cannot_work_are_one_line(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**REQUIRED, **env})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem)


def test_a_huge_shard_range_is_refused_against_the_count_without_building_it() -> None:
    env = {**REQUIRED, "SHARD_COUNT": "4", "SHARD_IDS": "0-1000000000,2"}
    began = time.monotonic()
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert time.monotonic() - began < 0.5  # a billion-element set takes a minute and 30 GiB
    assert caught.value.problems == [
        "SHARD_IDS names shard(s) 4-1000000000, but shards go from 0 to 3 (SHARD_COUNT=4)."
    ]


@pytest.mark.parametrize(
    "env",
    [
        {"SHARD_COUNT": "1000000000"},
        {"SHARD_COUNT": "100001"},
        # The range is never expanded: the count is refused on its own first.
        {"SHARD_COUNT": "1000000000", "SHARD_IDS": "0-999999999"},
    ],
)
def test_a_shard_count_past_the_cap_is_one_line_naming_the_maximum(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**REQUIRED, **env})
    assert caught.value.problems == [
        f"SHARD_COUNT is malformed ({env['SHARD_COUNT']!r}): expected a whole number of shards "
        "from 1 to 100,000; see .env.example."
    ]


def test_the_largest_shard_count_is_accepted() -> None:
    db = {"DATABASE_URL": "postgresql://bot@db/bot"}
    settings = load_settings(
        {**REQUIRED, **db, "SHARD_COUNT": "100000", "SHARD_IDS": "99998-99999"}
    )
    assert (settings.shard_count, settings.shard_ids) == (100_000, (99_998, 99_999))


@pytest.mark.parametrize("written", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_numbers_that_are_not_finite_are_refused_by_name(written: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**REQUIRED, "SHARD_LEASE_SECONDS": written, "AZURE_OPENAI_TIMEOUT": written})
    assert [p.split(" ", 1)[0] for p in caught.value.problems] == [
        "AZURE_OPENAI_TIMEOUT",
        "SHARD_LEASE_SECONDS",
    ]
    assert caught.value.problems[1] == (
        f"SHARD_LEASE_SECONDS is malformed ({written!r}): expected a positive number of "
        "seconds; see .env.example."
    )
