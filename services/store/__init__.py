"""The bot's memory: stored messages and small state documents.

The rest of the bot sees two small interfaces, `MessageStore` and `StateStore`, with plain
dataclasses and dicts in and out, and `TinyStore`, the embedded implementation of both.
"""

from services.store.message_log import LogLimits
from services.store.model import ContentCipher, MessageStore, StateStore, StoredMessage
from services.store.tiny_store import TinyStore

__all__ = [
    "ContentCipher",
    "LogLimits",
    "MessageStore",
    "StateStore",
    "StoredMessage",
    "TinyStore",
]
