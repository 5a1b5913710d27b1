"""The store contract (`tests/store_contract.py`) against `PostgresStore`, plain and encrypted,
each test on a fresh database of the suite's PostgreSQL (`tests/postgres_server.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services.privacy.encryption import FernetCipher
from tests.postgres_server import PostgresDatabase
from tests.store_contract import *  # noqa: F403  the contract's tests, collected here
from tests.store_contract import Store, StorePlace

_KEY = Fernet.generate_key().decode()


@pytest.fixture(params=[False, True], ids=["postgres", "postgres-encrypted"])
async def place(
    request: pytest.FixtureRequest, postgres_database: PostgresDatabase, tmp_path: Path
) -> AsyncIterator[StorePlace]:
    cipher = FernetCipher(_KEY) if request.param else None

    async def open_on_database(_: Path) -> Store:
        # The first call opens the test's fresh database; a later one reopens the same data.
        return await postgres_database.open_store(cipher=cipher)

    opened = StorePlace(open_on_database, tmp_path, durable=True)
    yield opened
    await opened.close_all()


@pytest.fixture
async def store(place: StorePlace) -> Store:
    return await place.open()
