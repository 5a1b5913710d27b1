from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.settings import Settings
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import (
    AZURE_KEY,
    DISCORD_TOKEN,
    EXTRA_SECRETS,
    new_fake_discord,
    settings_for,
)


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
    fake = FakeAzureOpenAI(api_key=AZURE_KEY, deployment="gpt-test")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def fake_azure(fake_azure_server: FakeAzureOpenAI) -> Iterator[FakeAzureOpenAI]:
    """The shared fake Azure, with its answers and recordings reset for each test."""
    fake_azure_server.reset()
    yield fake_azure_server
    fake_azure_server.reset()


@pytest.fixture
def settings(fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, tmp_path: Path) -> Settings:
    return settings_for(fake_discord, fake_azure, tmp_path / "data")


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
