from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.settings import Settings
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import AZURE_KEY, new_fake_discord, settings_for


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
