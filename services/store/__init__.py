"""The bot's memory: stored messages, their channels' beat counts, and small state documents.

The rest of the bot sees two small interfaces, `MessageStore` and `StateStore`, with plain
dataclasses and dicts in and out. `LogStore` is the embedded implementation of both (messages
and counts in the project's own log, state in TinyDB files); `MemoryStore` is the in-memory one.
"""

from services.store.log_store import LogStore
from services.store.memory import MemoryStore
from services.store.message_log import LogLimits
from services.store.model import (
    STATE_KINDS,
    Arrival,
    ContentCipher,
    Document,
    MessageStore,
    StateKind,
    StateStore,
    StoredMessage,
)

__all__ = [
    "STATE_KINDS",
    "Arrival",
    "ContentCipher",
    "Document",
    "LogLimits",
    "LogStore",
    "MemoryStore",
    "MessageStore",
    "StateKind",
    "StateStore",
    "StoredMessage",
]
