"""The bot's memory: stored messages and small state documents.

The rest of the bot sees two small interfaces, `MessageStore` and `StateStore`, with plain
dataclasses and dicts in and out; `MemoryStore` implements both in memory.
"""

from services.store.memory import MemoryLeases, MemoryStore
from services.store.message_log import LogLimits
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
    StoredMessage,
)
from services.store.tiny_store import TinyStore

__all__ = [
    "STATE_KINDS",
    "Arrival",
    "ContentCipher",
    "Document",
    "LeaseHolder",
    "LeaseStore",
    "LogLimits",
    "MemoryLeases",
    "MemoryStore",
    "MessageStore",
    "StateKind",
    "StateStore",
    "StoredMessage",
    "TinyStore",
]
