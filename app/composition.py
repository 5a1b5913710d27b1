"""The composition root: every object of the bot is built here, once, and closed in order.

`open_services(settings)` opens the store, the model client, the speech client, the voice
players and every service, each typed by its port, and closes them in the reverse order;
`register_cogs` hands each cog what it needs through its constructor. Tests build the same
graph with other `Seams` (a recording voice connection, a resolver whose yt-dlp may use
its generic extractor). `commands_only=True` (`sync`, `check`) builds what the command tree
needs and nothing that runs: an in-memory store (DATA_DIR belongs to the running bot), no
yt-dlp worker process, no libopus, no metrics, no heartbeat.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import imageio_ffmpeg
from discord.ext import commands

from app.metrics import PrometheusTelemetry, serve_metrics
from app.settings import DEFAULT_DISCORD_API_BASE, Settings
from commands.catchup import CatchUpCog
from commands.chat import ChatCog
from commands.chat_reading import ChatReader
from commands.chat_reply import ChatReplies
from commands.gateway_health import GatewayHealthCog
from commands.music import MusicCog
from commands.persona import PersonaCog
from commands.presence import PresenceCog
from commands.privacy import PrivacyCog
from commands.retention import RetentionCog
from commands.say import SayCog
from commands.server_departure import ServerDepartureCog
from commands.setup import SetupCog
from commands.temperature import TemperatureCog
from commands.voice_audio import (
    DiscordVoiceConnector,
    FFmpegAudio,
    VoiceConnect,
    connect_discord_voice,
)
from commands.voice_watch import VoiceWatchCog
from services.attachment_files import AttachmentFiles, allowed_hosts_for
from services.background import BackgroundTasks
from services.conversation.catch_up import CatchUp, LiveMarks
from services.conversation.conversation import ConversationService
from services.conversation.persona import PersonaProfiles, PersonaService
from services.conversation.reply_policy import FloodGuard, ReplyPolicy
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.cooldown import Cooldown
from services.health import HEARTBEAT_FILE, Heartbeat
from services.llm import ChatCompletionsModel, ChatModel, FallbackChatModel
from services.privacy.encryption import FernetCipher, cipher_for
from services.privacy.member_data import MemberData
from services.privacy.privacy import PrivacyChoices, PrivacyService, ReplyLog
from services.privacy.retention import RetentionJob
from services.privacy.server_data import DepartureLog, ServerData, ServerDepartures
from services.servers.azure_limits import AzureCallLimits
from services.servers.budget import DailyBudgets
from services.servers.settings import ServerSettings
from services.servers.token_usage import TokenAccounting
from services.servers.watched_channels import WatchRule
from services.store import (
    LeaseStore,
    MemoryLeases,
    MemoryStore,
    MessageStore,
    SqliteStore,
    StateStore,
)
from services.store.measured import MeasuredStore, Store
from services.store.postgres import PostgresStore
from services.telemetry import NO_TELEMETRY, Telemetry
from services.tts import SpeechCache, SpeechSynthesizer
from services.voice.music_queue import MusicQueues, QueueDocuments
from services.voice.music_source import MusicResolver
from services.voice.play_request import PlayRequests
from services.voice.voice_player import VoicePlayers


def find_ffmpeg() -> str:
    """The system's FFmpeg (Debian's, in Docker) if there is one, else the wheel's static one."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def music_resolver_for(settings: Settings, *, warm: bool = True) -> MusicResolver:
    return MusicResolver(
        allowed_hosts=settings.music_allowed_hosts,
        media_hosts=settings.music_media_hosts,
        max_seconds=settings.music_max_minutes * 60,
        timeout=settings.music_timeout_seconds,
        allow_private_network=settings.music_allow_private_network,
        ffmpeg=find_ffmpeg(),
        warm=warm,
    )


async def open_postgres(settings: Settings) -> PostgresStore:
    """The PostgreSQL store of `DATABASE_URL`, its schema brought up to date; raises
    StoreUnavailableError, StoreSchemaError or EncryptionKeyError with one line."""
    key = settings.store_encryption_key.reveal()
    return await PostgresStore.open(
        settings.database_url.reveal(),
        cipher=FernetCipher(key) if key else None,
        pool_size=settings.database_pool_size,
    )


async def open_sqlite(settings: Settings, heartbeat: Heartbeat | None = None) -> SqliteStore:
    """The embedded store in `DATA_DIR`, open, migrated, and any older data directory
    imported; raises StoreFileError or EncryptionKeyError with one line. While its writes
    fail, the heartbeat file says why."""
    key = settings.store_encryption_key.reveal()
    store = SqliteStore(
        settings.data_dir,
        cipher=cipher_for(settings.data_dir, key),
        on_write_problem=heartbeat.store_problem if heartbeat is not None else None,
    )
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    return store


@dataclass(frozen=True)
class Seams:
    """What tests build differently from production."""

    connect_voice: VoiceConnect = connect_discord_voice
    music_resolver: MusicResolver | None = None  # None: from the settings


@dataclass(frozen=True)
class Services:
    store: MessageStore
    state: StateStore
    model: ChatModel
    tasks: BackgroundTasks
    usage: TokenAccounting
    personas: PersonaService
    privacy: PrivacyService
    temperature: TemperatureSettings
    servers: ServerSettings  # each server's channels and pace, from /setup
    policy: ReplyPolicy
    conversation: ConversationService
    catch_up: CatchUp
    music_queues: MusicQueues
    music_resolver: MusicResolver
    voice_connector: DiscordVoiceConnector
    voice_players: VoicePlayers
    play_requests: PlayRequests
    speech: SpeechSynthesizer | None  # None: no ElevenLabs key or voice configured
    say_cooldown: Cooldown
    member_data: MemberData  # a member's export, an operator's forget-member
    server_data: ServerData  # /setup forget-server, and what a departure deletes
    server_departures: ServerDepartures  # the servers the bot left, deleted after the grace
    # The shard leases and IDENTIFY turns: the database's, or this process's alone.
    leases: LeaseStore = field(default_factory=MemoryLeases)
    real_voice: bool = field(default=True)  # False: tests connect to voice another way
    telemetry: Telemetry = NO_TELEMETRY
    heartbeat: Heartbeat | None = None  # None: commands only, nothing connects
    metrics_port: int | None = None  # where /metrics is served; None: nowhere


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, seams: Seams = Seams(), *, commands_only: bool = False
) -> AsyncIterator[Services]:
    """Build every service; on exit, close them in reverse order of opening."""
    async with contextlib.AsyncExitStack() as opened:
        telemetry: Telemetry = NO_TELEMETRY
        metrics_port = None
        if settings.metrics_port is not None and not commands_only:
            prometheus = PrometheusTelemetry()
            telemetry = prometheus
            metrics_port = await opened.enter_async_context(
                serve_metrics(prometheus.registry, settings.metrics_port)
            )
        heartbeat = (
            None
            if commands_only
            else Heartbeat(settings.data_dir / HEARTBEAT_FILE, interval=settings.heartbeat_seconds)
        )
        inner: Store
        if commands_only:
            inner = MemoryStore()
        elif settings.database_url:
            inner = await open_postgres(settings)
        else:
            inner = await open_sqlite(settings, heartbeat)
        # Measured only when metrics are on: otherwise the bot holds the store itself.
        store = inner if telemetry is NO_TELEMETRY else MeasuredStore(inner, telemetry)
        opened.push_async_callback(store.close)
        model = ChatCompletionsModel(
            settings.model_server,
            model=settings.model_name,
            timeout=settings.azure_openai_timeout,
            telemetry=telemetry,
        )
        opened.push_async_callback(model.close)
        # Discord's CDN, and the operator's Discord-compatible server when they set one.
        attachment_files = AttachmentFiles(
            allowed_hosts=allowed_hosts_for(
                None
                if settings.discord_api_base == DEFAULT_DISCORD_API_BASE
                else settings.discord_api_base
            )
        )
        opened.push_async_callback(attachment_files.close)
        # Reply decisions may go to a second deployment when the first fails; persona builds,
        # cached and not awaited by anyone, wait for the next one.
        decisions: ChatModel = model
        if settings.azure_openai_fallback_deployment:
            fallback = ChatCompletionsModel(
                settings.model_server,
                model=settings.azure_openai_fallback_deployment,
                timeout=settings.azure_openai_timeout,
                telemetry=telemetry,
            )
            opened.push_async_callback(fallback.close)
            decisions = FallbackChatModel(model, fallback)
        tasks = BackgroundTasks()
        opened.push_async_callback(tasks.close)
        azure_limits = AzureCallLimits(
            per_server=settings.azure_calls_per_minute_per_server,
            total=settings.azure_calls_per_minute,
        )
        # Rows written by `tasks` after each call: those under way are written before `tasks`
        # cancels what is left.
        usage = TokenAccounting(store, tasks)
        opened.push_async_callback(usage.wait_idle)
        personas = PersonaService(
            store=store,
            profiles=PersonaProfiles(store),
            model=model,
            history=settings.persona_messages,
            refresh_after=settings.persona_refresh,
            min_interval=timedelta(minutes=settings.persona_min_minutes),
            tasks=tasks,
            limits=azure_limits,
            usage=usage,
        )
        # A rebuild in flight writes its profile, unless Azure keeps it past a short grace.
        opened.push_async_callback(personas.close)
        privacy = PrivacyService(
            store=store,
            choices=PrivacyChoices(store),
            replies=ReplyLog(store),
            personas=personas,
            usage=usage,
            consent_mode=settings.profile_consent,
            retention=timedelta(days=settings.retention_days),
        )
        await privacy.load()
        temperature = TemperatureSettings(GuildSettingsRepository(store))
        servers = ServerSettings(
            store,
            default_channels=settings.channel_ids,
            default_every=settings.reply_every,
            max_tokens_per_day=settings.daily_tokens_per_server,
        )
        await servers.load_all()  # the reply path reads them from memory
        policy = ReplyPolicy(
            store=store,
            privacy=privacy,
            every=settings.reply_every,
            mention_cooldown=Cooldown(settings.mention_cooldown_seconds),
            flood=FloodGuard(),
            telemetry=telemetry,
            pace=servers.every,
        )
        speech = None
        if settings.speech_configured:
            speech = SpeechSynthesizer(
                api_key=settings.elevenlabs_api_key.reveal(),
                voice_id=settings.elevenlabs_voice_id,
                model_id=settings.elevenlabs_model_id,
                base_url=settings.elevenlabs_base_url,
                timeout=settings.elevenlabs_timeout,
                cache=SpeechCache(settings.data_dir / "speech-cache"),
                telemetry=telemetry,
            )
            opened.push_async_callback(speech.close)
        music_queues = MusicQueues(QueueDocuments(store), max_length=settings.music_max_queue)
        music_resolver = seams.music_resolver or music_resolver_for(
            settings, warm=not commands_only
        )
        opened.push_async_callback(music_resolver.close)  # its yt-dlp worker processes
        audio = FFmpegAudio(ffmpeg=find_ffmpeg(), max_stream_seconds=music_resolver.max_seconds)
        voice_connector = DiscordVoiceConnector(seams.connect_voice)
        voice_players = VoicePlayers(
            queues=music_queues,
            finder=music_resolver,
            connector=voice_connector,
            streams=audio,
            speech_files=audio,
            idle_seconds=settings.voice_idle_seconds,
            tasks=tasks,
        )
        opened.push_async_callback(voice_players.close)
        # The shard leases, IDENTIFY turns and once-only jobs: the database's, or this
        # process's alone.
        leases = inner if isinstance(inner, PostgresStore) else MemoryLeases()
        server_data = ServerData(
            store=store,
            privacy=privacy,
            personas=personas,
            servers=servers,
            music_queues=music_queues,
        )
        yield Services(
            store=store,
            state=store,
            model=model,
            tasks=tasks,
            usage=usage,
            personas=personas,
            privacy=privacy,
            temperature=temperature,
            servers=servers,
            policy=policy,
            conversation=ConversationService(
                store=store,
                model=decisions,
                personas=privacy.persona_if_allowed,
                temperature=temperature.effective,
                quotable=privacy.may_store,
                context_messages=settings.context_messages,
                telemetry=telemetry,
                limits=azure_limits,
                usage=usage,
                budgets=DailyBudgets(servers, usage),
                characters=lambda guild, channel, parent: (
                    servers.character(guild, channel, parent).value
                ),
                files=attachment_files,
                max_images=settings.vision_max_images,
            ),
            catch_up=CatchUp(
                store=store,
                policy=policy,
                limit=settings.catchup_messages,
                retention=timedelta(days=settings.retention_days),
            ),
            music_queues=music_queues,
            music_resolver=music_resolver,
            voice_connector=voice_connector,
            voice_players=voice_players,
            play_requests=PlayRequests(
                players=voice_players, queues=music_queues, finder=music_resolver
            ),
            speech=speech,
            say_cooldown=Cooldown(settings.say_cooldown_seconds),
            member_data=MemberData(
                store,
                retention=timedelta(days=settings.retention_days),
                leases=leases,
                owner=f"export-{uuid.uuid4().hex}",
            ),
            server_data=server_data,
            server_departures=ServerDepartures(
                data=server_data,
                log_of_departures=DepartureLog(store),
                leases=leases,
                owner=f"server-data-{uuid.uuid4().hex}",
                grace=timedelta(hours=settings.server_data_grace_hours),
            ),
            leases=leases,
            real_voice=seams.connect_voice is connect_discord_voice and not commands_only,
            telemetry=telemetry,
            heartbeat=heartbeat,
            metrics_port=metrics_port,
        )


async def register_cogs(
    bot: commands.Bot | commands.AutoShardedBot, settings: Settings, services: Services
) -> None:
    """Every cog, each with what it needs."""
    accepts_temperature = lambda: services.model.accepts_temperature  # noqa: E731
    players = services.voice_players
    rule = WatchRule(
        settings.channel_ids,
        settings.guild_id,
        threads=settings.watch_threads,
        servers=services.servers,
    )
    reader = ChatReader(bot, rule)
    replies = ChatReplies(
        bot, reader=reader, conversation=services.conversation, privacy=services.privacy
    )
    live = LiveMarks()  # where live begins in each channel, this gateway session
    cogs: list[commands.Cog] = [
        ChatCog(
            store=services.store,
            policy=services.policy,
            reader=reader,
            replies=replies,
            tasks=services.tasks,
            live=live,
        ),
        CatchUpCog(
            catch_up=services.catch_up,
            reader=reader,
            replies=replies,
            tasks=services.tasks,
            live=live,
        ),
        PersonaCog(
            personas=services.personas,
            privacy=services.privacy,
            temperature=services.temperature,
            accepts_temperature=accepts_temperature,
            member_data=services.member_data,
        ),
        PrivacyCog(
            retention_days=settings.retention_days,
            grace_hours=settings.server_data_grace_hours,
            encrypted=bool(settings.store_encryption_key),
            speech=services.speech is not None,
            policy_url=settings.privacy_policy_url,
        ),
        ServerDepartureCog(bot, departures=services.server_departures, tasks=services.tasks),
        TemperatureCog(
            temperature=services.temperature,
            persona_of=services.privacy.stored_persona_if_allowed,
            accepts_temperature=accepts_temperature,
        ),
        RetentionCog(
            RetentionJob(services.privacy, services.leases, owner=f"retention-{uuid.uuid4().hex}")
        ),
        MusicCog(
            bot,
            players=players,
            requests=services.play_requests,
            queues=services.music_queues,
            resolver=services.music_resolver,
            tasks=services.tasks,
        ),
        SayCog(
            bot,
            players=players,
            speech=services.speech,
            max_chars=settings.say_max_chars,
            cooldown=services.say_cooldown,
        ),
        VoiceWatchCog(bot, players=players),
        SetupCog(
            servers=services.servers,
            operator_channels=settings.channel_ids,
            usage=services.usage,
            server_data=services.server_data,
        ),
        PresenceCog(bot, channel_ids=settings.channel_ids, playing_count=players.playing_count),
    ]
    if services.heartbeat is not None:
        cogs.append(
            GatewayHealthCog(bot, heartbeat=services.heartbeat, telemetry=services.telemetry)
        )
    services.telemetry.watch_playing(players.playing_count)
    for cog in cogs:
        await bot.add_cog(cog)
