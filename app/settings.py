"""The bot's configuration: read once from the environment (or `.env`), typed and frozen.

Every variable is declared once, in `VARIABLES`: its name, parser, default and help text.
`load_settings` reads from that table and `Settings` takes its defaults from it; a test keeps
`.env.example` and the README's table in step with it. Every problem is collected before
giving up, so an operator fixes a `.env` in one pass.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.fernet import Fernet
from dotenv import dotenv_values

from services.llm import ModelServer
from services.privacy.privacy import ConsentMode

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"


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


# Discord publishes no maximum; the largest bots run tens of thousands of shards. The cap
# keeps a typo (SHARD_COUNT=1000000000 with SHARD_IDS=0-999999999) from building a set of a
# billion shard ids at start.
MAX_SHARD_COUNT = 100_000


def _shard_count(raw: str) -> int:
    value = _positive_int(raw)
    if value > MAX_SHARD_COUNT:
        raise ValueError("too many shards")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 0:
        raise ValueError("negative")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw.strip())
    if not math.isfinite(value) or value <= 0:  # float() reads "nan" and "inf" too
        raise ValueError("not a positive number")
    return value


def _hours(raw: str) -> float:
    value = float(raw.strip())
    if not math.isfinite(value) or value < 0:
        raise ValueError("not a number of hours, 0 or more")
    return value


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ValueError("not a flag")


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


def _log_format(raw: str) -> str:
    form = raw.strip().lower()
    if form not in LOG_FORMATS:
        raise ValueError("not a log format")
    return form


def _port(raw: str) -> int:
    value = int(raw.strip())
    if not 1 <= value <= 65535:
        raise ValueError("not a port")
    return value


def _consent_mode(raw: str) -> ConsentMode:
    mode = raw.strip().lower()
    if mode == "opt-in":
        return "opt-in"
    if mode == "opt-out":
        return "opt-out"
    raise ValueError("not a consent mode")


def _database_url(raw: str) -> Secret:
    url = raw.strip()
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("not a PostgreSQL URL")
    return Secret(url)


ShardRanges = tuple[tuple[int, int], ...]


def _shard_ids(raw: str) -> ShardRanges:
    """`0,2`, `0-3` or a mix (`0-1,4`), as (first, last) ranges: expanded to the ids only once
    they are known to lie below SHARD_COUNT (`0-1000000000` must not build a billion ids)."""
    ranges: list[tuple[int, int]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        low = int(first.strip())
        high = int(last.strip()) if dash else low
        if low < 0 or high < low:
            raise ValueError("not a range of shard ids")
        ranges.append((low, high))
    if not ranges:
        raise ValueError("no shard ids")
    return tuple(sorted(ranges))


def _expand_shard_ids(ranges: ShardRanges) -> tuple[int, ...]:
    return tuple(sorted({i for low, high in ranges for i in range(low, high + 1)}))


def _fernet_key(raw: str) -> Secret:
    Fernet(raw.strip().encode())  # raises ValueError unless 32 url-safe base64 bytes
    return Secret(raw.strip())


# The two ways to reach a model: exactly one set, given whole.
MODEL_SET_AZURE = "Azure OpenAI"
MODEL_SET_OPENAI = "OpenAI-compatible server"
MODEL_SETS: dict[str, tuple[str, ...]] = {
    MODEL_SET_AZURE: ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT"),
    MODEL_SET_OPENAI: ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"),
}


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def _model_set_problem(env: Mapping[str, str]) -> str | None:
    """One line when the model's variables are not exactly one whole set: none given, a set
    given in part, or both."""
    given = {
        name: [env_name for env_name in names if (env.get(env_name) or "").strip()]
        for name, names in MODEL_SETS.items()
    }
    started = [name for name, present in given.items() if present]
    if not started:
        azure, openai = (_listed(MODEL_SETS[name]) for name in (MODEL_SET_AZURE, MODEL_SET_OPENAI))
        return (
            f"The model is not set: set {azure} (Azure OpenAI), or {openai} (an "
            "OpenAI-compatible server such as Ollama); see .env.example."
        )
    if len(started) > 1:
        named = "; ".join(f"{_listed(tuple(given[name]))} for the {name} set" for name in started)
        return (
            f"Both model sets are given ({named}): keep one set and unset the other; see "
            ".env.example."
        )
    [name] = started
    missing = tuple(env_name for env_name in MODEL_SETS[name] if env_name not in given[name])
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return (
            f"{_listed(missing)} {verb} missing: the {name} set needs "
            f"{_listed(MODEL_SETS[name])}; see .env.example."
        )
    if name == MODEL_SET_OPENAI and (env.get("AZURE_OPENAI_FALLBACK_DEPLOYMENT") or "").strip():
        return (
            "AZURE_OPENAI_FALLBACK_DEPLOYMENT is for the Azure OpenAI set, not OPENAI_*: "
            "unset it; see .env.example."
        )
    return None


_EXPECTED: dict[Callable[[str], Any], str] = {
    _parse_id: "a Discord id (a positive whole number)",
    _parse_ids: "one Discord id or a comma-separated list of ids",
    _parse_url: "an http(s) URL",
    _parse_ws_url: "a ws(s) URL",
    _positive_int: "a positive whole number",
    _non_negative_int: "a whole number, 0 or more",
    _positive_float: "a positive number of seconds",
    _hours: "a number of hours, 0 or more (decimals allowed: 0.5)",
    _flag: "true or false",
    _hosts: "a comma-separated list of host names",
    _log_level: "one of " + ", ".join(LOG_LEVELS),
    _consent_mode: "opt-out or opt-in",
    _log_format: "text or json",
    _port: "a TCP port (1 to 65535)",
    _fernet_key: "a Fernet key (the README shows how to make one)",
    _database_url: "a postgresql:// or postgres:// URL",
    _shard_ids: "shard ids: a list (0,2) or a range (0-3), from 0",
    _shard_count: f"a whole number of shards from 1 to {MAX_SHARD_COUNT:,}",
}


@dataclass(frozen=True)
class Setting:
    """One environment variable: where it goes in `Settings`, how it is read, what it means.

    `parse` gets the stripped, non-empty value and raises ValueError when it is malformed.
    An unset or blank variable is a problem when `required`, else `default` applies. A
    `secret`'s raw value is never echoed in a problem. `one_of` names the set the variable
    belongs to when exactly one of several sets must be given whole (`MODEL_SETS`).
    """

    env: str
    field: str
    parse: Callable[[str], object]
    help: str
    default: object = None
    required: bool = False
    secret: bool = False
    one_of: str = ""

    @property
    def default_text(self) -> str:
        """The default as written in `.env`; empty when the variable is required or unset."""
        value = self.default
        if self.required or value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, Secret):
            return value.reveal()
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, frozenset):
            return ",".join(sorted(str(item) for item in value))
        if isinstance(value, tuple):
            return ",".join(str(item) for item in value)
        return str(value)


# In the order their problems are reported.
VARIABLES: tuple[Setting, ...] = (
    Setting(
        env="DISCORD_TOKEN",
        field="discord_token",
        parse=Secret,
        required=True,
        secret=True,
        help="The bot's token (Developer Portal > your application > Bot > Reset Token); "
        "keep it secret.",
    ),
    Setting(
        env="CHANNEL_ID",
        field="channel_ids",
        parse=_parse_ids,
        default=frozenset(),
        help="Channel(s) the bot listens to and talks in, in every server, beside those each "
        "server picks with `/setup watch`: one id or a comma-separated list; unset: only those.",
    ),
    Setting(
        env="AZURE_OPENAI_API_KEY",
        field="azure_openai_api_key",
        parse=Secret,
        default=Secret(""),
        secret=True,
        one_of=MODEL_SET_AZURE,
        help="The Azure OpenAI resource's key (Azure portal > Keys and Endpoint).",
    ),
    Setting(
        env="AZURE_OPENAI_ENDPOINT",
        field="azure_openai_endpoint",
        parse=_parse_url,
        default="",
        one_of=MODEL_SET_AZURE,
        help="The resource's endpoint, `https://<resource>.openai.azure.com` "
        "(Azure portal > Keys and Endpoint).",
    ),
    Setting(
        env="AZURE_OPENAI_DEPLOYMENT",
        field="azure_openai_deployment",
        parse=str,
        default="",
        one_of=MODEL_SET_AZURE,
        help="The name you gave the model deployment (not the model's name).",
    ),
    Setting(
        env="OPENAI_BASE_URL",
        field="openai_base_url",
        parse=_parse_url,
        default="",
        one_of=MODEL_SET_OPENAI,
        help="Instead of Azure: the base URL of an OpenAI-compatible server (OpenAI "
        "`https://api.openai.com/v1`, Ollama `http://localhost:11434/v1`, vLLM, LM Studio, "
        "OpenRouter `https://openrouter.ai/api/v1`).",
    ),
    Setting(
        env="OPENAI_API_KEY",
        field="openai_api_key",
        parse=Secret,
        default=Secret(""),
        secret=True,
        one_of=MODEL_SET_OPENAI,
        help="That server's key; a local server that checks none (Ollama) takes any word.",
    ),
    Setting(
        env="OPENAI_MODEL",
        field="openai_model",
        parse=str,
        default="",
        one_of=MODEL_SET_OPENAI,
        help="The model that server runs (`gpt-4o-mini`, `llama3.2`, ...).",
    ),
    Setting(
        env="AZURE_OPENAI_FALLBACK_DEPLOYMENT",
        field="azure_openai_fallback_deployment",
        parse=str,
        default="",
        help="A second deployment of the same resource, tried once for a reply decision whose "
        "call to the first ends throttled (429 after retries), in a server error (5xx) or "
        "in a timeout; unset: none.",
    ),
    Setting(
        env="GUILD_ID",
        field="guild_id",
        parse=_parse_id,
        default=None,
        help="The server the bot serves and `make sync` publishes the slash commands to; "
        "unset: any server the bot is in (then sync with `python -m app sync --global`).",
    ),
    Setting(
        env="DISCORD_API_BASE",
        field="discord_api_base",
        parse=_parse_url,
        default=DEFAULT_DISCORD_API_BASE,
        help="A REST proxy (or test double) instead of Discord's API; the bot then also "
        "downloads attachments from its host.",
    ),
    Setting(
        env="DISCORD_GATEWAY_URL",
        field="discord_gateway_url",
        parse=_parse_ws_url,
        default="wss://gateway.discord.gg/",
        help="A gateway proxy (or test double) instead of Discord's gateway.",
    ),
    Setting(
        env="AZURE_OPENAI_API_VERSION",
        field="azure_openai_api_version",
        parse=str,
        default="2024-10-21",
        help="The Azure OpenAI API version: `v1` for Azure's v1 API (no dated version, "
        "recommended for new code), or a dated one with structured outputs "
        "(2024-08-01-preview or later).",
    ),
    Setting(
        env="AZURE_OPENAI_TIMEOUT",
        field="azure_openai_timeout",
        parse=_positive_float,
        default=20.0,
        help="Seconds before a call to the model (Azure's or the OpenAI-compatible server's) "
        "is given up (the bot then stays silent).",
    ),
    Setting(
        env="AZURE_CALLS_PER_MINUTE_PER_SERVER",
        field="azure_calls_per_minute_per_server",
        parse=_positive_int,
        default=20,
        help="The most Azure calls (reply decisions and persona builds) one server may cause "
        "per minute; past it the bot stays silent there.",
    ),
    Setting(
        env="AZURE_CALLS_PER_MINUTE",
        field="azure_calls_per_minute",
        parse=_positive_int,
        default=120,
        help="The most Azure calls the bot makes per minute in all servers together; past it "
        "the bot stays silent.",
    ),
    Setting(
        env="DAILY_TOKENS_PER_SERVER",
        field="daily_tokens_per_server",
        parse=_positive_int,
        default=None,
        help="Azure tokens (prompt and completion) one server may spend per UTC day: the default "
        "budget, and the most `/setup budget` may choose. Unset: no cap.",
    ),
    Setting(
        env="ELEVENLABS_API_KEY",
        field="elevenlabs_api_key",
        parse=Secret,
        default=Secret(""),
        secret=True,
        help="The ElevenLabs key for `/say`; without a key and a voice, `/say` says speech "
        "is not set up.",
    ),
    Setting(
        env="ELEVENLABS_VOICE_ID",
        field="elevenlabs_voice_id",
        parse=str,
        default="",
        help="The ElevenLabs voice `/say` speaks with.",
    ),
    Setting(
        env="ELEVENLABS_MODEL_ID",
        field="elevenlabs_model_id",
        parse=str,
        default="eleven_multilingual_v2",
        help="The ElevenLabs speech model.",
    ),
    Setting(
        env="ELEVENLABS_BASE_URL",
        field="elevenlabs_base_url",
        parse=_parse_url,
        default="https://api.elevenlabs.io",
        help="A proxy (or test double) instead of the official ElevenLabs API.",
    ),
    Setting(
        env="MUSIC_ALLOWED_HOSTS",
        field="music_allowed_hosts",
        parse=_hosts,
        default=(
            "youtube.com",
            "www.youtube.com",
            "m.youtube.com",
            "music.youtube.com",
            "youtu.be",
            "soundcloud.com",
            "m.soundcloud.com",
        ),
        help="Hosts whose links `/play` plays, comma-separated; anything else is searched.",
    ),
    Setting(
        env="MUSIC_MAX_MINUTES",
        field="music_max_minutes",
        parse=_positive_int,
        default=15,
        help="The longest track `/play` accepts, in minutes.",
    ),
    Setting(
        env="MUSIC_MAX_QUEUE",
        field="music_max_queue",
        parse=_positive_int,
        default=50,
        help="The longest music queue, in tracks.",
    ),
    Setting(
        env="MUSIC_TIMEOUT_SECONDS",
        field="music_timeout_seconds",
        parse=_positive_float,
        default=10.0,
        help="Seconds a music source may stay silent before `/play` gives up on it; "
        "a yt-dlp lookup is cut off after three times this in all.",
    ),
    Setting(
        env="SAY_MAX_CHARS",
        field="say_max_chars",
        parse=_positive_int,
        default=300,
        help="The longest text `/say` speaks, in characters.",
    ),
    Setting(
        env="SAY_COOLDOWN_SECONDS",
        field="say_cooldown_seconds",
        parse=_non_negative_int,
        default=10,
        help="Seconds a member waits between two `/say`.",
    ),
    Setting(
        env="ELEVENLABS_TIMEOUT",
        field="elevenlabs_timeout",
        parse=_positive_float,
        default=15.0,
        help="Seconds before an ElevenLabs request is given up (`/say` then says it took "
        "too long).",
    ),
    Setting(
        env="VOICE_IDLE_SECONDS",
        field="voice_idle_seconds",
        parse=_positive_float,
        default=180.0,
        help="Seconds the bot stays in a voice channel with nothing to play before it leaves.",
    ),
    Setting(
        env="DATA_DIR",
        field="data_dir",
        parse=Path,
        default=Path("data"),
        help=(
            "Where messages, profiles and queues are kept (a volume in Docker): `bot.sqlite3` "
            "(one SQLite file) and `servers/<id>.json` (one small file per server). Back up with "
            "the bot stopped, or with the `sqlite3` shell's `.backup` (README: Data and privacy)."
        ),
    ),
    Setting(
        env="DATABASE_URL",
        field="database_url",
        parse=_database_url,
        default=Secret(""),
        secret=True,
        help="A PostgreSQL database for messages, profiles and queues instead of `DATA_DIR`, "
        "for more than one process or machine: `postgresql://user:password@host:5432/name`; "
        "unset: the embedded store. It holds a password: keep it secret.",
    ),
    Setting(
        env="DATABASE_POOL_SIZE",
        field="database_pool_size",
        parse=_positive_int,
        default=10,
        help="The most connections the bot opens to PostgreSQL (with `DATABASE_URL`).",
    ),
    Setting(
        env="REPLY_EVERY",
        field="reply_every",
        parse=_positive_int,
        default=5,
        help="A reply decision every this many messages in a channel.",
    ),
    Setting(
        env="CONTEXT_MESSAGES",
        field="context_messages",
        parse=_positive_int,
        default=5,
        help="How many of a channel's last messages a reply decision reads.",
    ),
    Setting(
        env="VISION_MAX_IMAGES",
        field="vision_max_images",
        parse=_non_negative_int,
        default=4,
        help="How many images (the trigger's and the context's, newest first) a reply "
        "decision shows the model, downscaled; 0: none, images are only named.",
    ),
    Setting(
        env="PERSONA_MESSAGES",
        field="persona_messages",
        parse=_positive_int,
        default=30,
        help="How many of a member's last messages their persona is built from.",
    ),
    Setting(
        env="PERSONA_REFRESH",
        field="persona_refresh",
        parse=_positive_int,
        default=10,
        help="New messages from a member before their persona is rebuilt.",
    ),
    Setting(
        env="PERSONA_MIN_MINUTES",
        field="persona_min_minutes",
        parse=_non_negative_int,
        default=30,
        help=(
            "The shortest time, in minutes, between two rebuilds of a persona built from a "
            "full PERSONA_MESSAGES history (a younger one keeps up)."
        ),
    ),
    Setting(
        env="MENTION_COOLDOWN_SECONDS",
        field="mention_cooldown_seconds",
        parse=_non_negative_int,
        default=20,
        help="How often (seconds) one member can get an immediate answer by mentioning the bot.",
    ),
    Setting(
        env="RETENTION_DAYS",
        field="retention_days",
        parse=_positive_int,
        default=30,
        help="Stored messages older than this many days are deleted (Discord recommends at "
        "most 30).",
    ),
    Setting(
        env="SERVER_DATA_GRACE_HOURS",
        field="server_data_grace_hours",
        parse=_hours,
        default=24.0,
        help="After the bot is removed from a server, everything stored for it is deleted "
        "after this many hours (decimals allowed; 0: at once), unless it is added back.",
    ),
    Setting(
        env="PRIVACY_POLICY_URL",
        field="privacy_policy_url",
        parse=_parse_url,
        default="",
        help="The operator's privacy policy, linked from `/privacy` (and to give in the "
        "Developer Portal).",
    ),
    Setting(
        env="LOG_LEVEL",
        field="log_level",
        parse=_log_level,
        default="INFO",
        help="How much the bot logs: DEBUG, INFO, WARNING, ERROR or CRITICAL.",
    ),
    Setting(
        env="PROFILE_CONSENT",
        field="profile_consent",
        parse=_consent_mode,
        default="opt-out",
        help="`opt-out`: members are profiled until they opt out (`/persona`); `opt-in`: "
        "nobody is until they opt in.",
    ),
    Setting(
        env="STORE_ENCRYPTION_KEY",
        field="store_encryption_key",
        parse=_fernet_key,
        default=Secret(""),
        secret=True,
        help="A Fernet key that encrypts message texts, names and profiles in `DATA_DIR` (the "
        "README shows how to make one); keep it safe: without it the data cannot be read.",
    ),
    Setting(
        env="LOG_FORMAT",
        field="log_format",
        parse=_log_format,
        default="text",
        help="`text`: one readable line per event; `json`: one JSON object per line (time, "
        "level, logger, message, guild and channel ids) for a log collector.",
    ),
    Setting(
        env="METRICS_PORT",
        field="metrics_port",
        parse=_port,
        default=None,
        help="A port on which the bot serves Prometheus metrics at `/metrics`; unset: no metrics.",
    ),
    Setting(
        env="HEARTBEAT_SECONDS",
        field="heartbeat_seconds",
        parse=_positive_float,
        default=15.0,
        help="How often, while connected to Discord, the bot refreshes its heartbeat file "
        "(`DATA_DIR/heartbeat`, which the Docker health check reads).",
    ),
    Setting(
        env="WATCHDOG_MINUTES",
        field="watchdog_minutes",
        parse=_non_negative_int,
        default=10,
        help="Minutes a shard may stay disconnected before the bot reconnects that shard alone; "
        "when it is still down as long after that, every shard is down or the bot is stuck "
        "that long, the bot exits with status 1 so that Docker restarts it; 0: never.",
    ),
    Setting(
        env="WATCH_THREADS",
        field="watch_threads",
        parse=_flag,
        default=True,
        help="`true`: the threads of the watched channels and the posts of watched forum "
        "channels are watched too, each with its own beat; `false`: only the channels.",
    ),
    Setting(
        env="CATCHUP_MESSAGES",
        field="catchup_messages",
        parse=_non_negative_int,
        default=500,
        help="After a start or a reconnect that could not resume, how many missed messages "
        "per channel and thread the bot reads back (the newest); 0: none.",
    ),
    Setting(
        env="MUSIC_ALLOW_PRIVATE_NETWORK",
        field="music_allow_private_network",
        parse=_flag,
        default=False,
        help="`true`: `/play` also plays direct links to private and loopback addresses (a "
        "media server on your own network), for every member who can use `/play`; `false`: "
        "public addresses only, redirects included.",
    ),
    Setting(
        env="MUSIC_MEDIA_HOSTS",
        field="music_media_hosts",
        parse=_hosts,
        default=(),
        help="Hosts of your own media servers (Navidrome, Jellyfin, Icecast), comma-separated: "
        "their links play when the server answers with audio, with or without a file "
        "extension (a Subsonic `/rest/stream?id=...`); with MUSIC_ALLOW_PRIVATE_NETWORK for "
        "one on your own network.",
    ),
    Setting(
        env="SHARD_COUNT",
        field="shard_count",
        parse=_shard_count,
        default=None,
        help="How many shards the bot's servers are split over, counting every process (give "
        f"them all the same count), at most {MAX_SHARD_COUNT:,} (Discord publishes no maximum "
        "and the "
        "largest bots run tens of thousands; the cap stops a typo from building millions of"
        " shard ids); unset: Discord's recommended count, all in this process.",
    ),
    Setting(
        env="SHARD_IDS",
        field="shard_ids",
        parse=_shard_ids,
        default=None,
        help="The shards this process runs, of SHARD_COUNT: a list (`0,2`) or a range "
        "(`0-3`); unset: all of them. Splitting them between processes needs `DATABASE_URL`.",
    ),
    Setting(
        env="SHARD_LEASE_SECONDS",
        field="shard_lease_seconds",
        parse=_positive_float,
        default=60.0,
        help="How long a process's claim on its shards lasts unless renewed (every third of "
        "it): after a crash, its shards are free again after this long, and a restarted "
        "process waits for that.",
    ),
)

# The declared defaults, by field, for the dataclass below.
# What the bot (at start) and `python -m app check` say when CHANNEL_ID is unset.
NO_OPERATOR_CHANNELS = (
    "CHANNEL_ID is unset: each server chooses the channels the bot listens to with /setup watch"
)

_DEFAULTS: dict[str, Any] = {setting.field: setting.default for setting in VARIABLES}


@dataclass(frozen=True)
class Settings:
    """The bot's settings; field defaults come from `VARIABLES`."""

    discord_token: Secret
    azure_openai_api_key: Secret = _DEFAULTS["azure_openai_api_key"]
    azure_openai_endpoint: str = _DEFAULTS["azure_openai_endpoint"]
    azure_openai_deployment: str = _DEFAULTS["azure_openai_deployment"]
    openai_base_url: str = _DEFAULTS["openai_base_url"]
    openai_api_key: Secret = _DEFAULTS["openai_api_key"]
    openai_model: str = _DEFAULTS["openai_model"]
    azure_openai_fallback_deployment: str = _DEFAULTS["azure_openai_fallback_deployment"]
    channel_ids: frozenset[int] = _DEFAULTS["channel_ids"]
    guild_id: int | None = _DEFAULTS["guild_id"]
    discord_api_base: str = _DEFAULTS["discord_api_base"]
    discord_gateway_url: str = _DEFAULTS["discord_gateway_url"]
    azure_openai_api_version: str = _DEFAULTS["azure_openai_api_version"]
    azure_openai_timeout: float = _DEFAULTS["azure_openai_timeout"]
    azure_calls_per_minute_per_server: int = _DEFAULTS["azure_calls_per_minute_per_server"]
    azure_calls_per_minute: int = _DEFAULTS["azure_calls_per_minute"]
    daily_tokens_per_server: int | None = _DEFAULTS["daily_tokens_per_server"]
    elevenlabs_api_key: Secret = _DEFAULTS["elevenlabs_api_key"]
    elevenlabs_voice_id: str = _DEFAULTS["elevenlabs_voice_id"]
    elevenlabs_model_id: str = _DEFAULTS["elevenlabs_model_id"]
    elevenlabs_base_url: str = _DEFAULTS["elevenlabs_base_url"]
    music_allowed_hosts: tuple[str, ...] = _DEFAULTS["music_allowed_hosts"]
    music_max_minutes: int = _DEFAULTS["music_max_minutes"]
    music_max_queue: int = _DEFAULTS["music_max_queue"]
    music_timeout_seconds: float = _DEFAULTS["music_timeout_seconds"]
    say_max_chars: int = _DEFAULTS["say_max_chars"]
    say_cooldown_seconds: int = _DEFAULTS["say_cooldown_seconds"]
    elevenlabs_timeout: float = _DEFAULTS["elevenlabs_timeout"]
    voice_idle_seconds: float = _DEFAULTS["voice_idle_seconds"]
    data_dir: Path = _DEFAULTS["data_dir"]
    database_url: Secret = _DEFAULTS["database_url"]
    database_pool_size: int = _DEFAULTS["database_pool_size"]
    reply_every: int = _DEFAULTS["reply_every"]
    context_messages: int = _DEFAULTS["context_messages"]
    vision_max_images: int = _DEFAULTS["vision_max_images"]
    persona_messages: int = _DEFAULTS["persona_messages"]
    persona_refresh: int = _DEFAULTS["persona_refresh"]
    persona_min_minutes: int = _DEFAULTS["persona_min_minutes"]
    mention_cooldown_seconds: int = _DEFAULTS["mention_cooldown_seconds"]
    retention_days: int = _DEFAULTS["retention_days"]
    server_data_grace_hours: float = _DEFAULTS["server_data_grace_hours"]
    privacy_policy_url: str = _DEFAULTS["privacy_policy_url"]
    log_level: str = _DEFAULTS["log_level"]
    profile_consent: ConsentMode = _DEFAULTS["profile_consent"]
    store_encryption_key: Secret = _DEFAULTS["store_encryption_key"]
    log_format: str = _DEFAULTS["log_format"]
    metrics_port: int | None = _DEFAULTS["metrics_port"]  # 0 (tests only): any free port
    heartbeat_seconds: float = _DEFAULTS["heartbeat_seconds"]
    watchdog_minutes: int = _DEFAULTS["watchdog_minutes"]
    watch_threads: bool = _DEFAULTS["watch_threads"]
    catchup_messages: int = _DEFAULTS["catchup_messages"]
    music_allow_private_network: bool = _DEFAULTS["music_allow_private_network"]
    music_media_hosts: tuple[str, ...] = _DEFAULTS["music_media_hosts"]
    shard_count: int | None = _DEFAULTS["shard_count"]
    shard_ids: tuple[int, ...] | None = _DEFAULTS["shard_ids"]
    shard_lease_seconds: float = _DEFAULTS["shard_lease_seconds"]

    @property
    def model_server(self) -> ModelServer:
        """The server the model is reached on: the OPENAI_* one when it is set, else Azure's."""
        if self.openai_base_url:
            return ModelServer(self.openai_base_url, self.openai_api_key.reveal())
        return ModelServer(
            self.azure_openai_endpoint,
            self.azure_openai_api_key.reveal(),
            api_version=self.azure_openai_api_version,
        )

    @property
    def model_name(self) -> str:
        """The deployment (Azure) or the model (an OpenAI-compatible server) the bot calls."""
        return self.openai_model if self.openai_base_url else self.azure_openai_deployment

    @property
    def speech_configured(self) -> bool:
        return bool(self.elevenlabs_api_key) and bool(self.elevenlabs_voice_id)

    @property
    def database_password(self) -> Secret:
        """The password inside `DATABASE_URL`, redacted from the logs on its own too."""
        password = urlsplit(self.database_url.reveal()).password
        return Secret(unquote(password) if password else "")


class SettingsError(Exception):
    """Raised with every problem found, one line each, ready to print."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DiscordAccess:
    """What a command that only asks Discord's REST API something needs (`python -m app
    invite`, run before the rest of `.env` is filled in): the token and where the API is."""

    discord_token: Secret
    discord_api_base: str = _DEFAULTS["discord_api_base"]
    log_level: str = _DEFAULTS["log_level"]
    log_format: str = _DEFAULTS["log_format"]


def load_settings(env: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Read the settings from `env` (default: `.env` overlaid by the process environment)."""
    environment = _environment(env, env_file)
    values, problems = _read(VARIABLES, environment)
    if (model_problem := _model_set_problem(environment)) is not None:
        problems.append(model_problem)
    if not any(problem.startswith(("SHARD_COUNT ", "SHARD_IDS ")) for problem in problems):
        problems.extend(_shard_problems(values))
    if problems:
        raise SettingsError(problems)
    if "shard_ids" in values:  # every id is below SHARD_COUNT by now
        values["shard_ids"] = _expand_shard_ids(values["shard_ids"])
    return Settings(**values)


def load_discord_access(
    env: Mapping[str, str] | None = None, env_file: Path | None = None
) -> DiscordAccess:
    """The variables `DiscordAccess` holds, and only those, read and checked as
    `load_settings` does."""
    held = {each.name for each in fields(DiscordAccess)}
    wanted = tuple(setting for setting in VARIABLES if setting.field in held)
    values, problems = _read(wanted, _environment(env, env_file))
    if problems:
        raise SettingsError(problems)
    return DiscordAccess(**values)


def _environment(env: Mapping[str, str] | None, env_file: Path | None) -> Mapping[str, str]:
    """`env`, or by default `.env` overlaid by the process environment."""
    if env is not None:
        return env
    file_values = dotenv_values(env_file or Path(".env"))
    merged = {k: v for k, v in file_values.items() if v is not None}
    merged.update(os.environ)
    return merged


def _read(
    variables: tuple[Setting, ...], env: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """The parsed values of `variables` set in `env`, by field, and every problem found."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for setting in variables:
        raw = (env.get(setting.env) or "").strip()
        if not raw:
            if setting.required:
                problems.append(f"{setting.env} is missing: set it in .env (see .env.example).")
            continue  # the dataclass default applies
        try:
            values[setting.field] = setting.parse(raw)
        except ValueError:
            expected = _EXPECTED.get(setting.parse, "a valid value")
            shown = "" if setting.secret else f" ({raw!r})"  # a secret is never echoed
            problems.append(
                f"{setting.env} is malformed{shown}: expected {expected}; see .env.example."
            )
    return values, problems


def _shard_problems(values: Mapping[str, Any]) -> list[str]:
    """What SHARD_COUNT and SHARD_IDS (still ranges) say together (each is well-formed)."""
    count, ranges = values.get("shard_count"), values.get("shard_ids")
    if ranges is None:
        return []
    if count is None:
        return ["SHARD_IDS needs SHARD_COUNT: set how many shards there are in all."]
    outside = [(max(low, count), high) for low, high in ranges if high >= count]
    if outside:
        named = ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in outside)
        return [
            f"SHARD_IDS names shard(s) {named}, but shards go from 0 to "
            f"{count - 1} (SHARD_COUNT={count})."
        ]
    if _expand_shard_ids(ranges) != tuple(range(count)) and not values.get("database_url"):
        return [
            "SHARD_IDS runs only some of the shards: the processes that run the others must "
            "share a database, so set DATABASE_URL (the embedded store is for one process)."
        ]
    return []
