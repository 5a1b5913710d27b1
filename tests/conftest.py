from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.settings import Secret, Settings
from tests.audio import make_tone
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.media_server import MediaServer
from tests.harness import (
    AZURE_KEY,
    DISCORD_TOKEN,
    ELEVENLABS_KEY,
    ELEVENLABS_VOICE,
    EXTRA_SECRETS,
    FALLBACK_DEPLOYMENT,
    new_fake_discord,
    settings_for,
)

if TYPE_CHECKING:  # imported by pytest as a plugin: importing it here first spoils that
    from tests.postgres_server import PostgresDatabase

pytest_plugins = ("tests.postgres_server",)  # postgres_server, postgres_database


@pytest.fixture(scope="session")
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """One fake Discord for the whole run: tests tell their traffic apart by ids."""
    fake = new_fake_discord()
    await fake.start()
    with fake.install():
        yield fake
    await fake.stop()


@pytest.fixture(scope="session")
async def fake_azure_server() -> AsyncIterator[FakeAzureOpenAI]:
    fake = FakeAzureOpenAI(
        api_key=AZURE_KEY, deployment="gpt-test", extra_deployments=(FALLBACK_DEPLOYMENT,)
    )
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def fake_azure(fake_azure_server: FakeAzureOpenAI) -> Iterator[FakeAzureOpenAI]:
    """The shared fake Azure, with its answers and recordings reset for each test."""
    fake_azure_server.reset()
    yield fake_azure_server
    fake_azure_server.reset()


STORE_KINDS = ("embedded", "postgres")
# Runs a test once on each store: `@on_both_stores` (only where it is worth the time).
on_both_stores = pytest.mark.parametrize("store_kind", STORE_KINDS, indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """The store the bot runs on: "embedded" (DATA_DIR) unless the test is `@on_both_stores`."""
    return str(getattr(request, "param", "embedded"))


@pytest.fixture
def settings(
    fake_discord: FakeDiscord,
    fake_azure: FakeAzureOpenAI,
    tmp_path: Path,
    store_kind: str,
    request: pytest.FixtureRequest,
) -> Settings:
    """The bot's settings; on the "postgres" store, DATABASE_URL is a database of the test's
    own (`postgres_database`: migrated, emptied after the test)."""
    settings = settings_for(fake_discord, fake_azure, tmp_path / "data")
    if store_kind == "postgres":
        database: PostgresDatabase = request.getfixturevalue("postgres_database")
        settings = replace(settings, database_url=Secret(database.url))
    return settings


class _Everything(logging.Handler):
    """Keeps every log line of the run, tracebacks included, for the secrets check."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def no_secret_leaves_a_trace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole suite, no token or key is in any log line or data file it produced."""
    handler = _Everything()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)
    root.setLevel(previous_level)
    secrets = [DISCORD_TOKEN, AZURE_KEY, *EXTRA_SECRETS]
    leaks = [line for line in handler.lines if any(s in line for s in secrets)]
    base = tmp_path_factory.getbasetemp()
    files = [
        path
        for path in base.rglob("*")
        if path.is_file() and any(s.encode() in path.read_bytes() for s in secrets)
    ]
    assert not leaks, f"secrets in log lines: {leaks[:3]}"
    assert not files, f"secrets in data files: {files[:3]}"


# -- voice: real audio files, a media server and a fake ElevenLabs --------------------------


@dataclass(frozen=True)
class Media:
    server: MediaServer
    song: str  # 1 s of 440 Hz (mp3)
    long_song: str  # 20 s of 440 Hz (mp3), for pausing, skipping and speaking over
    song_ogg: str
    song_wav: str
    broken: str  # served as audio/mpeg, but not audio: FFmpeg fails on it
    tagged: str  # 2 s of 440 Hz (mp3), tagged: title "Tagged Tone", artist "The Testers"
    speech: Path  # 0.6 s of 1,000 Hz (mp3): what the fake ElevenLabs "says"


@pytest.fixture(scope="session")
async def media(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Media]:
    folder = tmp_path_factory.mktemp("media")
    broken = folder / "broken.mp3"
    broken.write_bytes(b"this is not audio at all " * 400)
    server = MediaServer()
    await server.start()
    yield Media(
        server=server,
        song=server.add_file("song.mp3", make_tone(folder / "song.mp3", frequency=440, seconds=1)),
        long_song=server.add_file(
            "long.mp3", make_tone(folder / "long.mp3", frequency=440, seconds=20)
        ),
        song_ogg=server.add_file(
            "song.ogg", make_tone(folder / "song.ogg", frequency=440, seconds=1)
        ),
        song_wav=server.add_file(
            "song.wav", make_tone(folder / "song.wav", frequency=440, seconds=1)
        ),
        broken=server.add_file("broken.mp3", broken),
        tagged=server.add_file(
            "tagged.mp3",
            make_tone(
                folder / "tagged.mp3",
                frequency=440,
                seconds=2,
                tags={"title": "Tagged Tone", "artist": "The Testers"},
            ),
        ),
        speech=make_tone(folder / "speech.mp3", frequency=1000, seconds=0.6),
    )
    await server.stop()


@pytest.fixture(scope="session")
async def fake_elevenlabs_server(media: Media) -> AsyncIterator[FakeElevenLabs]:
    fake = FakeElevenLabs(api_key=ELEVENLABS_KEY, voice_id=ELEVENLABS_VOICE, audio=media.speech)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def fake_elevenlabs(fake_elevenlabs_server: FakeElevenLabs) -> Iterator[FakeElevenLabs]:
    fake_elevenlabs_server.reset()
    yield fake_elevenlabs_server
    fake_elevenlabs_server.reset()


@pytest.fixture
def voice_settings(settings: Settings, fake_elevenlabs: FakeElevenLabs) -> Settings:
    """The bot's settings with music from the loopback media server (a private address: the
    operator's setting allows it) and speech configured. "localhost" is an allowed host for
    the links that are not direct links to files (pages, read by yt-dlp)."""
    return replace(
        settings,
        music_allowed_hosts=("localhost",),
        music_allow_private_network=True,
        voice_idle_seconds=0.2,
        elevenlabs_api_key=Secret(ELEVENLABS_KEY),
        elevenlabs_voice_id=ELEVENLABS_VOICE,
        elevenlabs_base_url=fake_elevenlabs.base_url,
        elevenlabs_timeout=2.0,
        say_cooldown_seconds=0,
    )
