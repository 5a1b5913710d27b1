"""Typed, versioned state documents: how a repository turns a dataclass into a document and back.

Each kind of state has one repository (in the module that owns the kind: `PersonaProfiles`,
`PrivacyChoices`, `ReplyLog`, `GuildSettingsRepository`, `QueueDocuments`), which alone knows its
key and its mapping. Every document carries its format version under `VERSION_FIELD`. Decoding
is forgiving on purpose: a release that adds a field reads old documents (the field takes its
default), and a release that drops one reads newer documents (the extra field is ignored), so a
stored profile or queue never turns into an exception on load.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from services.store import Document

T = TypeVar("T")

log = logging.getLogger(__name__)

VERSION_FIELD = "v"


class UnreadableDocument(ValueError):
    """A document that lacks a field with no default, or holds one of the wrong type."""


def versioned(version: int, fields: Mapping[str, Any]) -> Document:
    return {VERSION_FIELD: version, **fields}


def version_of(document: Mapping[str, Any]) -> int:
    """The document's format version; documents written before versions existed are 0."""
    version = document.get(VERSION_FIELD, 0)
    return version if isinstance(version, int) else 0


def dataclass_from(cls: type[T], document: Mapping[str, Any], **fixed: Any) -> T:
    """An instance of the dataclass `cls` from the document's fields: known fields are taken,
    missing ones get their defaults, unknown ones are ignored. `fixed` fields (from the key,
    or already decoded) win over the document."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in fixed:
            values[field.name] = fixed[field.name]
        elif field.name in document:
            values[field.name] = document[field.name]
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise UnreadableDocument(f"{cls.__name__} document lacks {field.name!r}")
    try:
        return cls(**values)
    except TypeError as error:
        raise UnreadableDocument(f"{cls.__name__} document: {error}") from None


def member_key(guild_id: int, member_id: int) -> str:
    return f"{guild_id}:{member_id}"


def parse_member_key(key: str) -> tuple[int, int] | None:
    guild, _, member = key.partition(":")
    try:
        return int(guild), int(member)
    except ValueError:
        return None
