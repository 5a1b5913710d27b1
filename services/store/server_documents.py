"""Per-server documents (a server's settings, its music queue) in one small TinyDB per server:
`DATA_DIR/servers/<guild_id>.json`, one table per kind, one document per table.

They change when an admin or a member asks for it, never per message, so a file rewritten
whole on each change costs nothing that matters, and a server's data is one file to read,
copy or delete. Not thread-safe (TinyDB is not): the store calls these from one thread.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage

from services.store.durable_file import fsync_directory, write_atomically
from services.store.model import Document, StateKind

SERVER_KINDS: frozenset[StateKind] = frozenset({"guild_settings", "music_queue"})


class DurableJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file and survives kill -9: each write
    goes to a temporary file, is fsynced, and replaces the old one (`os.replace`). TinyDB's own
    JSONStorage writes in place, and a kill during a shortening write can leave it unreadable."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self._path.read_bytes())
        except FileNotFoundError:
            return None
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(
            self._path, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        )

    def close(self) -> None:
        pass


class ServerDocuments:
    """The per-server kinds of state, as stored (sealed or not: the store decides)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def path_of(self, key: str) -> Path:
        if not key.isdigit():  # the key names a file: a guild id and nothing else
            raise ValueError(f"a server document's key is a guild id, not {key!r}")
        return self._directory / f"{int(key)}.json"

    def get(self, kind: StateKind, key: str) -> Document | None:
        path = self.path_of(key)
        if not path.exists():
            return None
        with TinyDB(path, storage=DurableJSONStorage) as database:
            found = database.table(kind, cache_size=0).all()
        return dict(found[0]) if found else None

    def put(self, kind: StateKind, key: str, stored: Document) -> None:
        path = self.path_of(key)
        with TinyDB(path, storage=DurableJSONStorage) as database:
            table = database.table(kind, cache_size=0)
            table.truncate()  # at most one document per kind: replaced, never merged
            table.insert(stored)

    def delete(self, kind: StateKind, key: str) -> bool:
        path = self.path_of(key)
        if not path.exists():
            return False
        with TinyDB(path, storage=DurableJSONStorage) as database:
            table = database.table(kind, cache_size=0)
            found = len(table) > 0
            if found:
                database.drop_table(kind)
            empty = not any(len(database.table(name)) for name in database.tables())
        if empty:  # nothing of the server is left: neither is its file
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            fsync_directory(self._directory)
        return found

    def keys(self) -> list[str]:
        if not self._directory.exists():
            return []
        return sorted(path.stem for path in self._directory.glob("*.json") if path.stem.isdigit())

    def items(self, kind: StateKind) -> list[tuple[str, Document]]:
        found = []
        for key in self.keys():
            document = self.get(kind, key)
            if document is not None:
                found.append((key, document))
        return found
