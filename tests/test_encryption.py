from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services.privacy.encryption import EncryptionKeyError, FernetCipher, cipher_for
from services.store import SqliteStore, StoredMessage
from tests.test_sqlite_store import every_file_bytes as files_bytes
from tests.test_sqlite_store import message

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()


def test_the_cipher_round_trips() -> None:
    cipher = FernetCipher(KEY)
    sealed = cipher.seal("olá, mundo")
    assert "olá" not in sealed
    assert cipher.open(sealed) == "olá, mundo"


def test_a_new_data_dir_remembers_it_is_encrypted(tmp_path: Path) -> None:
    assert cipher_for(tmp_path, KEY) is not None
    assert cipher_for(tmp_path, KEY) is not None
    with pytest.raises(EncryptionKeyError, match="is encrypted: set STORE_ENCRYPTION_KEY"):
        cipher_for(tmp_path, "")
    with pytest.raises(EncryptionKeyError, match="is not the key"):
        cipher_for(tmp_path, OTHER_KEY)


async def test_a_key_added_to_plain_data_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.add(message(1), counted=True)
    await store.close()
    with pytest.raises(EncryptionKeyError, match="holds unencrypted data"):
        cipher_for(tmp_path, KEY)
    assert cipher_for(tmp_path, "") is None


async def test_encrypted_files_hold_no_plaintext(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path, cipher=cipher_for(tmp_path, KEY))
    secret = StoredMessage(1, 2, 3, 4, "Zelda", "the word is xylophone", message(1).created_at)
    await store.add(secret, counted=True)
    await store.put_state("persona", "2:4", {"summary": "likes xylophones"})
    assert [m.content for m in await store.last_in_channel(3, 5)] == ["the word is xylophone"]
    await store.close()
    text = files_bytes(tmp_path)
    assert b"xylophone" not in text
    assert b"Zelda" not in text
