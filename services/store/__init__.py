"""The bot's memory: stored messages, their channels' beat counts, small state documents, and
the tokens spent.

The rest of the bot sees small interfaces (`MessageStore`, `StateStore`, `LeaseStore`,
`UsageStore`) with plain dataclasses and dicts in and out. `SqliteStore` is the embedded
implementation (one SQLite file, plus a small TinyDB file per server); `PostgresStore` the one
for several processes; `MemoryStore` the in-memory one.
"""

from services.store.memory import MemoryLeases, MemoryStore
from services.store.model import (
    STATE_KINDS,
    Arrival,
    ContentCipher,
    Document,
    LeaseHolder,
    LeaseStore,
    MessageStore,
    StateKind,
    StateStore,
    StoredAttachment,
    StoredMessage,
    StoreOutageError,
    UsageRow,
    UsageStore,
)
from services.store.sqlite import SqliteStore, StoreFileError, StoreWriteError

__all__ = [
    "STATE_KINDS",
    "Arrival",
    "ContentCipher",
    "Document",
    "LeaseHolder",
    "LeaseStore",
    "MemoryLeases",
    "MemoryStore",
    "MessageStore",
    "SqliteStore",
    "StateKind",
    "StateStore",
    "StoreFileError",
    "StoreOutageError",
    "StoreWriteError",
    "StoredAttachment",
    "StoredMessage",
    "UsageRow",
    "UsageStore",
]
