"""Encryption at rest (optional): message texts, names and state documents sealed with Fernet.

A marker file in the data directory records whether its data is encrypted and holds a token
sealed with the key, so a missing, wrong or newly added key is a clear error at start,
never data silently unreadable or half encrypted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

MARKER = "encryption.json"
_CHECK = "discord-azure-bot"


class EncryptionKeyError(Exception):
    """The key and the data directory do not go together; the message says how to fix it."""


class FernetCipher:
    """`ContentCipher` with Fernet (AES-128-CBC and HMAC-SHA256, from `cryptography`)."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode("ascii"))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")


def _holds_data(data_dir: Path) -> bool:
    return data_dir.exists() and any(p.name != MARKER for p in data_dir.iterdir())


def cipher_for(data_dir: Path, key: str) -> FernetCipher | None:
    """The cipher for `data_dir` given the configured key ("" for none), after checking that
    the key opens the data already there. Writes the marker on first use."""
    marker = data_dir / MARKER
    cipher = FernetCipher(key) if key else None
    if marker.exists():
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    elif _holds_data(data_dir):
        recorded = {"encrypted": False}  # written before encryption existed, or without it
    else:
        recorded = None

    if recorded is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        document: dict[str, object] = {"encrypted": cipher is not None}
        if cipher is not None:
            document["check"] = cipher.seal(_CHECK)
        temporary = marker.with_suffix(".tmp")
        temporary.write_text(json.dumps(document), encoding="utf-8")
        os.replace(temporary, marker)
        return cipher

    if recorded["encrypted"] and cipher is None:
        raise EncryptionKeyError(
            f"DATA_DIR {data_dir} is encrypted: set STORE_ENCRYPTION_KEY to its key."
        )
    if not recorded["encrypted"] and cipher is not None:
        raise EncryptionKeyError(
            f"DATA_DIR {data_dir} holds unencrypted data: start with an empty DATA_DIR to use "
            "STORE_ENCRYPTION_KEY, or unset it."
        )
    if cipher is not None:
        try:
            cipher.open(recorded["check"])
        except InvalidToken:
            raise EncryptionKeyError(
                f"STORE_ENCRYPTION_KEY is not the key DATA_DIR {data_dir} was encrypted with."
            ) from None
    return cipher
