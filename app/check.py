"""`python -m app check`: is everything the bot needs there, and if not, what to do.

One line per check: `✓` or `✗`, what was checked, and for a `✗` the fix in one sentence. A
warning is a `✗` marked "(warning)": it does not fail the run. Then a summary line; the exit
status is 0 when every required check passed, 1 otherwise.

It uses the bot's own settings and adapters: Discord's REST API (never the gateway: the
running bot's session is left alone), the model client of `services/llm.py` (Azure OpenAI,
or an OpenAI-compatible server) with one tiny structured-output request per deployment, the
ElevenLabs client of `services/tts.py`. Every call has a
short timeout; no secret is ever printed.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import discord

from app.bot import AzureBot
from app.composition import find_ffmpeg, open_services
from app.settings import NO_OPERATOR_CHANNELS, Settings
from app.sync import command_payloads
from commands.voice_audio import load_opus
from services.discord_permissions import (
    CHAT_PERMISSIONS,
    VOICE_PERMISSIONS,
    MemberRoles,
    Overwrite,
    channel_permissions,
    missing,
)
from services.llm import ChatCompletionsModel, LlmError, ModelServer, Probe
from services.store.postgres import StoreUnavailableError, schema_versions
from services.tts import SpeechCache, SpeechError, SpeechSynthesizer

HTTP_TIMEOUT = 5.0  # seconds, each Discord and ElevenLabs request
MODEL_PROBE_TIMEOUT = 15.0  # at most, for the one Azure request (no retries)
LOW_DISK = 1 << 30  # below this free space: a warning
NO_DISK = 100 << 20  # below this: a failure

GATEWAY_MESSAGE_CONTENT = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19
TEXT_CHANNEL_TYPES = {0: "text", 5: "announcement", 15: "forum", 16: "media"}
VOICE_CHANNEL_TYPES = {2, 13}
CHANNEL_KINDS = {1: "a direct message", 2: "a voice channel", 4: "a category", 13: "a stage"}

SYNC = "Run `python -m app sync`."


@dataclass(frozen=True)
class Line:
    passed: bool
    what: str
    fix: str = ""
    required: bool = True

    def render(self) -> str:
        if self.passed:
            return f"✓ {self.what}"
        warning = "" if self.required else " (warning)"
        return f"✗ {self.what}{warning}. Fix: {self.fix}"


@dataclass
class Report:
    out: TextIO
    lines: list[Line] = field(default_factory=list)

    def add(self, line: Line) -> None:
        self.lines.append(line)
        print(line.render(), file=self.out, flush=True)

    def ok(self, what: str) -> None:
        self.add(Line(True, what))

    def fail(self, what: str, fix: str) -> None:
        self.add(Line(False, what, fix))

    def warn(self, what: str, fix: str) -> None:
        self.add(Line(False, what, fix, required=False))

    def finish(self) -> int:
        failed = sum(1 for line in self.lines if not line.passed and line.required)
        warned = sum(1 for line in self.lines if not line.passed and not line.required)
        passed = len(self.lines) - failed - warned
        verdict = "everything required passed" if not failed else "fix the ✗ above"
        print(
            f"{len(self.lines)} checks: {passed} passed, {failed} failed, {warned} "
            f"warning{'s' if warned != 1 else ''}; {verdict}.",
            file=self.out,
        )
        return 1 if failed else 0


def report_settings_problems(problems: list[str], out: TextIO | None = None) -> int:
    """The check when the settings do not load: their one-line errors, as at start."""
    report = Report(out or sys.stdout)
    for problem in problems:
        report.fail(f"Settings: {problem.removesuffix('.')}", "Correct it in .env.")
    return report.finish()


async def run_checks(settings: Settings, out: TextIO | None = None) -> int:
    report = Report(out or sys.stdout)
    report.ok("Settings: every variable loads")
    await check_discord(settings, report)
    await check_model(settings, report)
    await check_elevenlabs(settings, report)
    await asyncio.to_thread(check_voice, report)
    check_data(settings, report)
    if settings.database_url:
        await check_database(settings, report)
    return report.finish()


# -- Discord ---------------------------------------------------------------------------------


class DiscordRest:
    """GETs of Discord's REST API with the bot's token: JSON, or the status and message."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self._session = session
        self._base = base.rstrip("/")
        self._headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (check)"}

    async def get(self, path: str) -> tuple[int, Any]:
        async with asyncio.timeout(HTTP_TIMEOUT):
            async with self._session.get(self._base + path, headers=self._headers) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                return response.status, body


def _said(status: int, body: Any) -> str:
    message = body.get("message") if isinstance(body, dict) else None
    return f"HTTP {status}" + (f": {message}" if message else "")


@dataclass
class _Guild:
    guild_id: int
    name: str
    bot: MemberRoles
    roles: dict[int, int]
    channels: list[dict[str, Any]] | None = None


async def check_discord(settings: Settings, report: Report) -> None:
    base = discord.http.Route.BASE  # DISCORD_API_BASE, as `point_at_discord` set it
    try:
        async with aiohttp.ClientSession() as session:
            rest = DiscordRest(session, base, settings.discord_token.reveal())
            await _check_discord(settings, rest, report)
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        detail = str(error) or type(error).__name__
        report.fail(
            f"Discord: could not reach {base} ({detail})",
            "Check the network, a proxy or firewall, and DISCORD_API_BASE.",
        )


async def _check_discord(settings: Settings, rest: DiscordRest, report: Report) -> None:
    status, me = await rest.get("/users/@me")
    if status == 401:
        report.fail(
            "Discord: the token was rejected (HTTP 401)",
            "Reset the token in the Developer Portal (your application > Bot > Reset Token) "
            "and put it in DISCORD_TOKEN.",
        )
        return
    if status != 200:
        report.fail(f"Discord: GET /users/@me failed ({_said(status, me)})", "Try again later.")
        return
    bot_id = int(me["id"])
    report.ok(f"Discord: the token is accepted (bot {me.get('username')}, id {bot_id})")

    status, application = await rest.get("/applications/@me")
    if status != 200:
        report.fail(
            f"Discord: could not read the application ({_said(status, application)})",
            "Try again later.",
        )
        return
    flags = application.get("flags")
    if not isinstance(flags, int) or isinstance(flags, bool):
        # A Discord-compatible server may not say: a warning, since nothing is known to be off.
        report.warn(
            "Discord: the application has no flags, so whether the Message Content intent is "
            "enabled is unknown",
            "Make sure the server delivers message content to the bot (on Discord: Message "
            "Content Intent in the Developer Portal, your application > Bot).",
        )
    elif flags & (GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED):
        report.ok("Discord: the Message Content intent is enabled")
    else:
        report.fail(
            "Discord: the Message Content intent is off, so the bot would read empty messages",
            "Enable Message Content Intent in the Developer Portal (your application > Bot > "
            "Privileged Gateway Intents).",
        )

    guilds: dict[int, _Guild | None] = {}
    if settings.guild_id is None:
        report.warn(
            "Discord: GUILD_ID is unset, so the bot serves any server and the commands are "
            "checked globally",
            "Set GUILD_ID to your server's id to check the membership and voice channels.",
        )
    else:
        guild = await _guild(rest, settings.guild_id, bot_id, report)
        guilds[settings.guild_id] = guild
        if guild is None:
            return  # the channel checks would all say the same
    if not settings.channel_ids:
        report.ok(f"Discord: {NO_OPERATOR_CHANNELS}")
    for channel_id in sorted(settings.channel_ids):
        await _check_channel(settings, rest, channel_id, bot_id, guilds, report)
    if settings.guild_id is not None and (guild := guilds[settings.guild_id]) is not None:
        await _check_voice_channels(rest, guild, report)
    await _check_commands(settings, rest, application, report)


async def _guild(rest: DiscordRest, guild_id: int, bot_id: int, report: Report) -> _Guild | None:
    """The guild's roles and owner and the bot's roles, or a ✗ that says why not."""
    invite = "Invite the bot with the URL `python -m app invite` prints, or correct GUILD_ID."
    status, guild = await rest.get(f"/guilds/{guild_id}")
    if status in (403, 404):
        report.fail(f"Discord: the bot is not a member of guild {guild_id}", invite)
        return None
    if status != 200:
        report.fail(f"Discord: could not read guild {guild_id} ({_said(status, guild)})", invite)
        return None
    status, member = await rest.get(f"/guilds/{guild_id}/members/{bot_id}")
    if status != 200:
        report.fail(f"Discord: the bot is not a member of guild {guild_id}", invite)
        return None
    roles = guild.get("roles")
    if not roles:
        # Discord sends them with the guild; a Discord-compatible server may have them only
        # at their own endpoint. Without them every permission would look missing.
        status, roles = await rest.get(f"/guilds/{guild_id}/roles")
        if status != 200 or not isinstance(roles, list):
            report.fail(
                f"Discord: could not read the roles of guild {guild_id} ({_said(status, roles)})",
                "Try again later.",
            )
            return None
    report.ok(f"Discord: the bot is a member of guild {guild.get('name')} ({guild_id})")
    return _Guild(
        guild_id=guild_id,
        name=str(guild.get("name")),
        bot=MemberRoles(
            guild_id=guild_id,
            owner_id=int(guild["owner_id"]),
            member_id=bot_id,
            role_ids=frozenset(int(r) for r in member.get("roles", [])),
        ),
        roles={int(r["id"]): int(r["permissions"]) for r in roles},
    )


def _permissions(guild: _Guild, channel: dict[str, Any]) -> int:
    overwrites = [Overwrite.from_payload(o) for o in channel.get("permission_overwrites") or []]
    return channel_permissions(guild.bot, guild.roles, overwrites)


async def _check_channel(
    settings: Settings,
    rest: DiscordRest,
    channel_id: int,
    bot_id: int,
    guilds: dict[int, _Guild | None],
    report: Report,
) -> None:
    label = f"Discord: channel {channel_id}"
    fix_id = "Correct CHANNEL_ID (in Discord, right-click the channel > Copy Channel ID)."
    status, channel = await rest.get(f"/channels/{channel_id}")
    if status == 404:
        report.fail(f"{label} does not exist", fix_id)
        return
    if status == 403:
        report.fail(
            f"{label}: the bot cannot see it (HTTP 403)",
            "Allow View Channel for the bot's role in the channel's permissions.",
        )
        return
    if status != 200:
        report.fail(f"{label}: could not read it ({_said(status, channel)})", fix_id)
        return
    kind = int(channel.get("type", -1))
    if kind not in TEXT_CHANNEL_TYPES:
        what = CHANNEL_KINDS.get(kind, f"a channel of type {kind}")
        report.fail(f"{label} is {what}, not a text channel or forum", fix_id)
        return
    guild_id = int(channel.get("guild_id") or 0)
    label = f"Discord: #{channel.get('name')} ({channel_id})"
    if settings.guild_id is not None and guild_id != settings.guild_id:
        report.fail(f"{label} is in another server ({guild_id}) than GUILD_ID", fix_id)
        return
    if guild_id not in guilds:
        guilds[guild_id] = await _guild(rest, guild_id, bot_id, report)
    guild = guilds[guild_id]
    if guild is None:
        return
    lacking = missing(_permissions(guild, channel), CHAT_PERMISSIONS)
    if lacking:
        report.fail(
            f"{label}: the bot lacks {', '.join(lacking)}",
            "Allow them for the bot's role in the channel's permissions (Edit Channel > "
            "Permissions), or remove the overwrite that denies them.",
        )
    else:
        report.ok(f"{label}: the bot can read, send, embed and answer in threads")


async def _check_voice_channels(rest: DiscordRest, guild: _Guild, report: Report) -> None:
    status, channels = await rest.get(f"/guilds/{guild.guild_id}/channels")
    fix = "Allow Connect and Speak for the bot's role in a voice channel, for /play and /say."
    if status != 200:
        report.warn(f"Discord: could not list the voice channels ({_said(status, channels)})", fix)
        return
    voice = [c for c in channels if int(c.get("type", -1)) in VOICE_CHANNEL_TYPES]
    usable = [c for c in voice if not missing(_permissions(guild, c), VOICE_PERMISSIONS)]
    if usable:
        names = ", ".join(str(c.get("name")) for c in usable[:3])
        more = f" and {len(usable) - 3} more" if len(usable) > 3 else ""
        report.ok(f"Discord: the bot can connect and speak in {names}{more}")
    elif voice:
        report.warn("Discord: no voice channel where the bot can Connect and Speak", fix)
    else:
        report.warn("Discord: the guild has no voice channel", fix)


async def _check_commands(
    settings: Settings, rest: DiscordRest, application: dict[str, Any], report: Report
) -> None:
    app_id = int(application["id"])
    if settings.guild_id is not None:
        path, where = f"/applications/{app_id}/guilds/{settings.guild_id}/commands", "the guild"
    else:
        path, where = f"/applications/{app_id}/commands", "all guilds (global)"
    status, published = await rest.get(path)
    if status != 200:
        report.fail(
            f"Discord: could not read the slash commands of {where} ({_said(status, published)})",
            SYNC,
        )
        return
    expected = await _code_commands(settings)
    theirs = {_key(c): _shape(c) for c in published}
    ours = {_key(c): _shape(c) for c in expected}
    absent = sorted(name for name, _ in ours.keys() - theirs.keys())
    extra = sorted(name for name, _ in theirs.keys() - ours.keys())
    changed = sorted(k[0] for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
    if not (absent or extra or changed):
        report.ok(f"Discord: the {len(ours)} slash commands published to {where} match the code")
        return
    differences = [
        f"{label} {', '.join('/' + n for n in names)}"
        for label, names in (("missing", absent), ("not in the code", extra), ("changed", changed))
        if names
    ]
    report.fail(
        f"Discord: the slash commands of {where} differ from the code's ({'; '.join(differences)})",
        SYNC,
    )


async def _code_commands(settings: Settings) -> list[dict[str, Any]]:
    """The command tree the code builds, as `sync` would publish it (no login needed)."""
    async with (
        open_services(settings, commands_only=True) as services,
        AzureBot(settings, services) as bot,
    ):
        await bot.setup_hook()
        return await command_payloads(bot)


def _key(command: dict[str, Any]) -> tuple[str, int]:
    return str(command["name"]), int(command.get("type") or 1)


def _localized(value: Any) -> dict[str, str]:
    return dict(sorted((value or {}).items()))


def _shape(item: dict[str, Any]) -> dict[str, Any]:
    """What matters of a command or an option, with Discord's defaults filled in."""
    shape: dict[str, Any] = {
        "type": int(item.get("type") or 1),
        "name": item.get("name"),
        "description": item.get("description") or "",
        "name_localizations": _localized(item.get("name_localizations")),
        "description_localizations": _localized(item.get("description_localizations")),
        "required": bool(item.get("required", False)),
        "autocomplete": bool(item.get("autocomplete", False)),
        "choices": [
            (c.get("name"), c.get("value"), _localized(c.get("name_localizations")))
            for c in item.get("choices") or []
        ],
        "options": [_shape(o) for o in item.get("options") or []],
        "channel_types": sorted(item.get("channel_types") or []),
    }
    for bound in ("min_value", "max_value", "min_length", "max_length"):
        if item.get(bound) is not None:
            shape[bound] = item[bound]
    permissions = item.get("default_member_permissions")
    shape["default_member_permissions"] = None if permissions is None else str(permissions)
    return shape


# -- The model (Azure OpenAI or an OpenAI-compatible server) ---------------------------------

# Why a server refused a strict JSON schema (a `Probe.schema_refusal`), and what would let it
# take one; the bot works either way, asking for a JSON object and checking it itself.
SCHEMA_REFUSALS = {
    "old_api_version": (
        "{api} has no structured outputs",
        "Set AZURE_OPENAI_API_VERSION to v1, or to 2024-10-21 or later.",
    ),
    "no_structured_outputs": (
        "the model has no structured outputs",
        "Deploy a model that has them (gpt-4o 2024-08-06 or later, gpt-4.1, gpt-5...).",
    ),
    "json_schema_refused": (
        "it refuses the json_schema response format",
        "Deploy a model that has structured outputs (gpt-4o 2024-08-06 or later, gpt-4.1...).",
    ),
}


async def check_model(settings: Settings, report: Report) -> None:
    server = settings.model_server
    await _check_deployment(settings, server, settings.model_name, "", report)
    if settings.azure_openai_fallback_deployment:
        await _check_deployment(
            settings, server, settings.azure_openai_fallback_deployment, "fallback ", report
        )


async def _check_deployment(
    settings: Settings, server: ModelServer, name: str, role: str, report: Report
) -> None:
    """One deployment (`role` "fallback " for AZURE_OPENAI_FALLBACK_DEPLOYMENT's)."""
    model = ChatCompletionsModel(
        server,
        model=name,
        timeout=min(settings.azure_openai_timeout, MODEL_PROBE_TIMEOUT),
        max_retries=0,
    )
    images: LlmError | None = None
    try:
        probe = await model.probe()
        if probe.error is None and settings.vision_max_images > 0:
            images = await model.probe_images()
    finally:
        await model.close()
    version = settings.azure_openai_api_version
    api = "the v1 API" if version == "v1" else f"API version {version}"
    kind = "deployment" if server.is_azure else "model"
    if probe.error is not None:
        variable = "AZURE_OPENAI_FALLBACK_DEPLOYMENT" if role else server.model_variable
        missing = f"{role}{kind} named {name}"
        problem, fix = _model_problem(probe.error, server, missing, api, variable)
        report.fail(f"{server.name}: {problem}", fix)
    else:
        _report_response_format(probe, server, f"{role}{kind} {name}", api, report)
    if not probe.accepts_temperature:
        report.warn(
            f"{server.name}: {role}{kind} {name} rejects `temperature` (a reasoning model): "
            "the bot calls it without one, and /temperature changes nothing",
            "Nothing to do, unless you want temperatures: then use a chat model such as gpt-4o.",
        )
    if images is not None and images.kind == "no_vision":
        report.warn(
            f"{server.name}: {role}{kind} {name} takes no images: the bot names members' "
            "pictures to it instead of showing them",
            "Deploy a model with vision (gpt-4o, gpt-4.1, the gpt-5 family) to let it see "
            "them, or set VISION_MAX_IMAGES=0.",
        )
    elif images is not None:
        report.warn(
            f"{server.name}: a request with an image to {role}{kind} {name} failed ({images.kind})",
            "Run the check again; if it persists, set VISION_MAX_IMAGES=0.",
        )


def _report_response_format(
    probe: Probe, server: ModelServer, what: str, api: str, report: Report
) -> None:
    """Which of the two JSON answers the server gives: a strict JSON schema, or (after a
    refusal) a JSON object the bot checks against the schema."""
    if probe.response_format == "json_schema":
        with_api = f" with {api}" if server.is_azure else " (json_schema)"
        report.ok(f"{server.name}: {what} answers a strict JSON schema{with_api}")
        return
    answers = "answers JSON objects (json_object), which the bot checks against the schema itself"
    if not server.is_azure:
        report.ok(f"{server.name}: {what} has no strict JSON schema and {answers}")
        return
    why, fix = SCHEMA_REFUSALS.get(
        probe.schema_refusal or "", SCHEMA_REFUSALS["json_schema_refused"]
    )
    report.warn(
        f"{server.name}: {what} has no strict JSON schema ({why.format(api=api)}) and {answers}",
        fix,
    )


def _model_problem(
    error: LlmError, server: ModelServer, missing: str, api: str, variable: str
) -> tuple[str, str]:
    """What went wrong and how to fix it; `missing`: the deployment or model, as in "there is
    no {missing}", and `variable` the setting that names it."""
    if server.is_azure:
        reach_fix = (
            "Check AZURE_OPENAI_ENDPOINT (https://<resource>.openai.azure.com) and "
            "AZURE_OPENAI_API_VERSION."
        )
        problems = {
            "unauthorized": (
                "the key was refused (HTTP 401)",
                "Copy a key of this resource (Azure portal > Keys and Endpoint) into "
                "AZURE_OPENAI_API_KEY.",
            ),
            "not_found": (
                f"there is no {missing} (HTTP 404)",
                f"Set {variable} to the deployment's name (Azure AI Foundry > Deployments), "
                "not the model's.",
            ),
            "path_not_found": (f"the endpoint does not serve {api} (HTTP 404)", reach_fix),
        }
    else:
        reach_fix = "Check OPENAI_BASE_URL, and that the server is running."
        problems = {
            "unauthorized": ("the key was refused (HTTP 401)", "Set OPENAI_API_KEY to its key."),
            "not_found": (
                f"the server has no {missing} (HTTP 404)",
                "Set OPENAI_MODEL to a model the server has (Ollama: `ollama list`, and "
                "`ollama pull <model>` to get one).",
            ),
            "path_not_found": (
                "the server does not serve chat completions at OPENAI_BASE_URL (HTTP 404)",
                "Check OPENAI_BASE_URL: for OpenAI, Ollama, vLLM and LM Studio it ends in /v1.",
            ),
        }
    problems |= {
        "timeout": ("no answer within the timeout", reach_fix),
        "unreachable": ("the server could not be reached", reach_fix),
        "rate_limited": (
            "the deployment is rate limited right now (HTTP 429)",
            "Try again in a minute, or raise its tokens-per-minute quota.",
        ),
        "content_filter_prompt": (
            "the content filter refused the check's request",
            "Review the deployment's content filter configuration.",
        ),
    }
    return problems.get(
        error.kind, (f"the check's request failed ({error})", "Try again, then check the logs.")
    )


# -- ElevenLabs ------------------------------------------------------------------------------


async def check_elevenlabs(settings: Settings, report: Report) -> None:
    key, voice = bool(settings.elevenlabs_api_key), bool(settings.elevenlabs_voice_id)
    if not key and not voice:
        report.ok("ElevenLabs: not configured (/say answers that speech is not set up)")
        return
    if not (key and voice):
        lacking = "ELEVENLABS_VOICE_ID" if key else "ELEVENLABS_API_KEY"
        report.warn(
            f"ElevenLabs: {lacking} is unset, so /say is off",
            f"Set {lacking}, or unset the other to silence this.",
        )
        return
    with tempfile.TemporaryDirectory() as nowhere:
        speech = SpeechSynthesizer(
            api_key=settings.elevenlabs_api_key.reveal(),
            voice_id=settings.elevenlabs_voice_id,
            model_id=settings.elevenlabs_model_id,
            base_url=settings.elevenlabs_base_url,
            timeout=min(settings.elevenlabs_timeout, HTTP_TIMEOUT),
            cache=SpeechCache(Path(nowhere)),
        )
        try:
            name = await speech.check_voice()
        except SpeechError as error:
            what, fix = _speech_problem(error, settings.elevenlabs_voice_id)
            report.fail(f"ElevenLabs: {what}", fix)
            return
        finally:
            await speech.close()
    report.ok(f"ElevenLabs: the key is valid and voice {name} exists")


def _speech_problem(error: SpeechError, voice_id: str) -> tuple[str, str]:
    problems = {
        "invalid_key": (
            "the key was refused (HTTP 401, invalid_api_key)",
            "Copy an API key from elevenlabs.io (Developers > API keys) into ELEVENLABS_API_KEY.",
        ),
        "quota_exceeded": (
            "the key is valid but its quota is used up (HTTP 401, quota_exceeded)",
            "Wait for the quota to renew, or upgrade the ElevenLabs plan.",
        ),
        "voice_not_found": (
            f"voice {voice_id} does not exist for this account (HTTP 404)",
            "Set ELEVENLABS_VOICE_ID to the id of one of the account's voices (Voices > ID).",
        ),
        "rate_limited": ("rate limited right now (HTTP 429)", "Try again in a minute."),
        "timeout": ("no answer within the timeout", "Check the network and ELEVENLABS_BASE_URL."),
    }
    return problems.get(
        error.kind,
        (f"the request failed ({error})", "Check the network and ELEVENLABS_BASE_URL."),
    )


# -- Voice -----------------------------------------------------------------------------------


def check_voice(report: Report) -> None:
    """FFmpeg, libopus and the DAVE library (blocking: run it in a thread)."""
    ffmpeg = find_ffmpeg()
    try:
        run = subprocess.run(
            [ffmpeg, "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=HTTP_TIMEOUT,
            check=True,
        )
        version = " ".join(run.stdout.split()[:3]) or "unknown version"
        report.ok(f"Voice: FFmpeg found: {ffmpeg} ({version})")
    except (OSError, subprocess.SubprocessError) as error:
        report.fail(
            f"Voice: FFmpeg at {ffmpeg} does not run ({error})",
            "Install FFmpeg (apt-get install ffmpeg), or reinstall the imageio-ffmpeg wheel.",
        )
    if load_opus():
        report.ok("Voice: libopus loads")
    else:
        report.fail(
            "Voice: libopus was not found, so /play and /say cannot encode audio",
            "Install it (apt-get install libopus0, or brew install opus).",
        )
    try:
        importlib.import_module("davey")
        version = importlib.metadata.version("davey")
        report.ok(f"Voice: the DAVE library is importable (davey {version})")
    except (ImportError, importlib.metadata.PackageNotFoundError) as error:
        report.fail(
            f"Voice: the DAVE library cannot be imported ({error}), and Discord requires it "
            "for voice",
            "Install discord.py with its voice extra: pip install 'discord.py[voice]'.",
        )


# -- Data ------------------------------------------------------------------------------------


def check_data(settings: Settings, report: Report) -> None:
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=".check.", dir=data_dir) as probe:
            probe.write(b"check")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        report.fail(
            f"Data: DATA_DIR {data_dir} is not writable ({error.strerror or error})",
            "Create it and give it to the bot's user (in Docker: chown 10001 on the host folder).",
        )
        return
    report.ok(f"Data: DATA_DIR {data_dir} is writable")
    free = shutil.disk_usage(data_dir).free
    shown = f"{free / (1 << 30):.1f} GiB free on DATA_DIR's disk"
    fix = "Free some space or move DATA_DIR to a larger disk."
    if free < NO_DISK:
        report.fail(f"Data: only {shown}", fix)
    elif free < LOW_DISK:
        report.warn(f"Data: only {shown}", fix)
    else:
        report.ok(f"Data: {shown}")


async def check_database(settings: Settings, report: Report) -> None:
    """PostgreSQL (DATABASE_URL): reachable, and its schema the one this release uses."""
    try:
        async with asyncio.timeout(MODEL_PROBE_TIMEOUT):
            applied, latest = await schema_versions(settings.database_url.reveal())
    except (StoreUnavailableError, TimeoutError) as error:
        report.fail(
            f"Data: {str(error).removesuffix('.') or 'PostgreSQL did not answer in time'}",
            "Check DATABASE_URL (host, port, user, password, database) and that the server "
            "runs and accepts this host.",
        )
        return
    newest = max(applied, default=0)
    if newest > latest:
        report.fail(
            f"Data: the database's schema is at version {newest}, newer than this release "
            f"knows ({latest})",
            "Run the release that migrated it, or a newer one.",
        )
    elif newest < latest:
        report.warn(
            f"Data: PostgreSQL is reachable; its schema is at version {newest}, this release "
            f"uses {latest}",
            "Run `python -m app migrate` (the bot also migrates when it starts).",
        )
    else:
        report.ok(f"Data: PostgreSQL is reachable and its schema is current (version {latest})")
