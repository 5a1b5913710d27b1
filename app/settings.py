"""The bot's configuration: read once from the environment (or `.env`), typed and frozen.

Every problem is collected before giving up, so an operator fixes a `.env` in one pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from dotenv import dotenv_values

from services.privacy import ConsentMode

T = TypeVar("T")

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
DEFAULT_ELEVENLABS_BASE_URL = "https://api.elevenlabs.io"
DEFAULT_ELEVENLABS_MODEL_ID = "eleven_multilingual_v2"
DEFAULT_MUSIC_ALLOWED_HOSTS = (
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtu.be",
    "soundcloud.com",
    "m.soundcloud.com",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Secret:
    """A credential that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    discord_token: Secret
    channel_ids: frozenset[int]
    azure_openai_api_key: Secret
    azure_openai_endpoint: str
    azure_openai_deployment: str
    guild_id: int | None = None
    discord_api_base: str = DEFAULT_DISCORD_API_BASE
    discord_gateway_url: str = DEFAULT_DISCORD_GATEWAY_URL
    azure_openai_api_version: str = DEFAULT_AZURE_API_VERSION
    azure_openai_timeout: float = 20.0
    elevenlabs_api_key: Secret = field(default_factory=lambda: Secret(""))
    elevenlabs_voice_id: str = ""
    elevenlabs_model_id: str = DEFAULT_ELEVENLABS_MODEL_ID
    elevenlabs_base_url: str = DEFAULT_ELEVENLABS_BASE_URL
    music_allowed_hosts: tuple[str, ...] = DEFAULT_MUSIC_ALLOWED_HOSTS
    music_max_minutes: int = 15
    music_max_queue: int = 50
    music_timeout_seconds: float = 10.0
    say_max_chars: int = 300
    say_cooldown_seconds: int = 10
    elevenlabs_timeout: float = 15.0
    voice_idle_seconds: float = 180.0
    data_dir: Path = Path("data")
    reply_every: int = 5
    context_messages: int = 5
    persona_messages: int = 30
    persona_refresh: int = 10
    persona_min_minutes: int = 30
    mention_cooldown_seconds: int = 20
    retention_days: int = 30
    log_level: str = "INFO"
    profile_consent: ConsentMode = "opt-out"
    store_encryption_key: Secret = field(default_factory=lambda: Secret(""))

    @property
    def speech_configured(self) -> bool:
        return bool(self.elevenlabs_api_key) and bool(self.elevenlabs_voice_id)


class SettingsError(Exception):
    """Raised with every problem found, one line each, ready to print."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _parse_id(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("not a positive id")
    return value


def _parse_ids(raw: str) -> frozenset[int]:
    ids = frozenset(_parse_id(part) for part in raw.split(",") if part.strip())
    if not ids:
        raise ValueError("no ids")
    return ids


def _parse_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ValueError("not an http(s) URL")
    return url


def _parse_ws_url(raw: str) -> str:
    url = raw.strip()
    if not url.startswith(("wss://", "ws://")):
        raise ValueError("not a ws(s) URL")
    return url


def _positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("not a positive whole number")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 0:
        raise ValueError("negative")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw.strip())
    if value <= 0:
        raise ValueError("not a positive number")
    return value


def _hosts(raw: str) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    if not hosts:
        raise ValueError("no hosts")
    return hosts


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError("not a log level")
    return level


def _consent_mode(raw: str) -> ConsentMode:
    mode = raw.strip().lower()
    if mode == "opt-in":
        return "opt-in"
    if mode == "opt-out":
        return "opt-out"
    raise ValueError("not a consent mode")


def _fernet_key(raw: str) -> Secret:
    Fernet(raw.strip().encode())  # raises ValueError unless 32 url-safe base64 bytes
    return Secret(raw.strip())


_EXPECTED: dict[Callable[[str], Any], str] = {
    _parse_id: "a Discord id (a positive whole number)",
    _parse_ids: "one Discord id or a comma-separated list of ids",
    _parse_url: "an http(s) URL",
    _parse_ws_url: "a ws(s) URL",
    _positive_int: "a positive whole number",
    _non_negative_int: "a whole number, 0 or more",
    _positive_float: "a positive number of seconds",
    _hosts: "a comma-separated list of host names",
    _log_level: "one of " + ", ".join(LOG_LEVELS),
    _consent_mode: "opt-out or opt-in",
    _fernet_key: "a Fernet key (the README shows how to make one)",
}


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def required(self, name: str, parse: Callable[[str], T], placeholder: T) -> T:
        raw = self._raw(name)
        if raw is None:
            self.problems.append(f"{name} is missing: set it in .env (see .env.example).")
            return placeholder
        parsed = self._parse(name, raw, parse)
        return placeholder if parsed is None else parsed

    def optional(
        self, name: str, parse: Callable[[str], T], default: T, *, secret: bool = False
    ) -> T:
        raw = self._raw(name)
        if raw is None:
            return default
        parsed = self._parse(name, raw, parse, secret=secret)
        return default if parsed is None else parsed

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def _parse(
        self, name: str, raw: str, parse: Callable[[str], T], *, secret: bool = False
    ) -> T | None:
        try:
            return parse(raw)
        except ValueError:
            expected = _EXPECTED.get(parse, "a valid value")
            shown = "" if secret else f" ({raw!r})"  # a secret is never echoed
            self.problems.append(
                f"{name} is malformed{shown}: expected {expected}; see .env.example."
            )
            return None


def load_settings(env: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Read the settings from `env` (default: `.env` overlaid by the process environment)."""
    if env is None:
        file_values = dotenv_values(env_file or Path(".env"))
        merged = {k: v for k, v in file_values.items() if v is not None}
        merged.update(os.environ)
        env = merged

    read = _Reader(env)
    settings = Settings(
        discord_token=Secret(read.required("DISCORD_TOKEN", str, "")),
        channel_ids=read.required("CHANNEL_ID", _parse_ids, frozenset()),
        azure_openai_api_key=Secret(read.required("AZURE_OPENAI_API_KEY", str, "")),
        azure_openai_endpoint=read.required("AZURE_OPENAI_ENDPOINT", _parse_url, ""),
        azure_openai_deployment=read.required("AZURE_OPENAI_DEPLOYMENT", str, ""),
        guild_id=read.optional("GUILD_ID", _parse_id, None),
        discord_api_base=read.optional("DISCORD_API_BASE", _parse_url, DEFAULT_DISCORD_API_BASE),
        discord_gateway_url=read.optional(
            "DISCORD_GATEWAY_URL", _parse_ws_url, DEFAULT_DISCORD_GATEWAY_URL
        ),
        azure_openai_api_version=read.text("AZURE_OPENAI_API_VERSION", DEFAULT_AZURE_API_VERSION),
        azure_openai_timeout=read.optional("AZURE_OPENAI_TIMEOUT", _positive_float, 20.0),
        elevenlabs_api_key=Secret(read.text("ELEVENLABS_API_KEY", "")),
        elevenlabs_voice_id=read.text("ELEVENLABS_VOICE_ID", ""),
        elevenlabs_model_id=read.text("ELEVENLABS_MODEL_ID", DEFAULT_ELEVENLABS_MODEL_ID),
        elevenlabs_base_url=read.optional(
            "ELEVENLABS_BASE_URL", _parse_url, DEFAULT_ELEVENLABS_BASE_URL
        ),
        music_allowed_hosts=read.optional(
            "MUSIC_ALLOWED_HOSTS", _hosts, DEFAULT_MUSIC_ALLOWED_HOSTS
        ),
        music_max_minutes=read.optional("MUSIC_MAX_MINUTES", _positive_int, 15),
        music_max_queue=read.optional("MUSIC_MAX_QUEUE", _positive_int, 50),
        music_timeout_seconds=read.optional("MUSIC_TIMEOUT_SECONDS", _positive_float, 10.0),
        say_max_chars=read.optional("SAY_MAX_CHARS", _positive_int, 300),
        say_cooldown_seconds=read.optional("SAY_COOLDOWN_SECONDS", _non_negative_int, 10),
        elevenlabs_timeout=read.optional("ELEVENLABS_TIMEOUT", _positive_float, 15.0),
        voice_idle_seconds=read.optional("VOICE_IDLE_SECONDS", _positive_float, 180.0),
        data_dir=Path(read.text("DATA_DIR", "data")),
        reply_every=read.optional("REPLY_EVERY", _positive_int, 5),
        context_messages=read.optional("CONTEXT_MESSAGES", _positive_int, 5),
        persona_messages=read.optional("PERSONA_MESSAGES", _positive_int, 30),
        persona_refresh=read.optional("PERSONA_REFRESH", _positive_int, 10),
        persona_min_minutes=read.optional("PERSONA_MIN_MINUTES", _non_negative_int, 30),
        mention_cooldown_seconds=read.optional("MENTION_COOLDOWN_SECONDS", _non_negative_int, 20),
        retention_days=read.optional("RETENTION_DAYS", _positive_int, 30),
        log_level=read.optional("LOG_LEVEL", _log_level, "INFO"),
        profile_consent=read.optional("PROFILE_CONSENT", _consent_mode, "opt-out"),
        store_encryption_key=read.optional(
            "STORE_ENCRYPTION_KEY", _fernet_key, Secret(""), secret=True
        ),
    )
    if read.problems:
        raise SettingsError(read.problems)
    return settings
