"""The store contract (`tests/store_contract.py`), run against every implementation.

To hold a new store to the contract, add one line to `IMPLEMENTATIONS`: its name, an async
function that opens it on a place (called again on the same place after a close, it must
reopen the same data), and whether it is durable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services.privacy.encryption import FernetCipher
from services.store import MemoryStore, SqliteStore
from tests.store_contract import *  # noqa: F403  the contract's tests, collected here
from tests.store_contract import OpenStore, Store, StorePlace

_KEY = Fernet.generate_key().decode()  # one per run: reopening in a test finds the same key


async def open_memory(place: Path) -> Store:
    return MemoryStore()


async def open_sqlite(place: Path) -> Store:
    store = SqliteStore(place)
    await store.open()
    return store


async def open_encrypted_sqlite(place: Path) -> Store:
    store = SqliteStore(place, cipher=FernetCipher(_KEY))
    await store.open()
    return store


@dataclass(frozen=True)
class Implementation:
    name: str
    open: OpenStore
    durable: bool = True


IMPLEMENTATIONS = [
    Implementation("memory", open_memory, durable=False),
    Implementation("sqlite", open_sqlite),
    Implementation("sqlite-encrypted", open_encrypted_sqlite),
]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda implementation: implementation.name)
async def place(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorePlace]:
    implementation: Implementation = request.param
    opened = StorePlace(implementation.open, tmp_path / "store", implementation.durable)
    yield opened
    await opened.close_all()


@pytest.fixture
async def store(place: StorePlace) -> Store:
    return await place.open()
