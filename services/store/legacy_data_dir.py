"""Reading a data directory written by an earlier release, to import it into the SQLite store.

Earlier releases kept, in `DATA_DIR`:

    messages.json          the message log's manifest {"format": "discord-azure-bot/message-log/1",
                           "segments": [[number, generation], ...], "index": snapshot file}, or,
                           in the first release, a TinyDB file {"messages": {id: document}}
    messages/N.G.log       log segments: one record per line, `<crc32 as 8 hex digits> <json>`
    messages/index.K.bin   an index snapshot: a JSON header line, then binary columns
    state/<kind>.json      TinyDB files of state documents {"documents": {n: {..., "_key": key}}}
    state/channel_count.json  the beat counts of a release before they moved into the log

A log is read whole, in order, without its snapshot (only the snapshot's header is read, for
the counts and counted ids it holds): every record replayed as SQL into one transaction of the
new store, so memory stays flat whatever the size. A put is a message or its newer version; a
tombstone removes what came before it; a channel's count is the highest beat of any record.
A line that fails its checksum (a torn tail, a damaged record) is skipped, as the log itself did.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST = "messages.json"
SEGMENTS = "messages"
STATE = "state"
LEGACY_COUNTS = "channel_count"  # state/channel_count.json
LOG_FORMAT = "discord-azure-bot/message-log/1"
# What an import moves aside (to DATA_DIR/imported-<date>/) once the new store holds it all.
LEGACY_NAMES = (MANIFEST, SEGMENTS, STATE)


def holds_legacy_data(data_dir: Path) -> bool:
    return any((data_dir / name).exists() for name in LEGACY_NAMES)


@dataclass(frozen=True)
class Record:
    """One change, in log order: what a replay applies."""

    put: tuple[int, dict[str, Any]] | None = None  # (id, document): a message or a new version
    beat: tuple[int, int] | None = None  # (channel, count)
    counted: tuple[int, int] | None = None  # (message id, channel) that bumped a count
    deleted: int | None = None
    forgotten: tuple[int, int] | None = None  # (guild, author)
    expired_before: float | None = None  # seconds since the epoch


def decode_line(line: bytes) -> dict[str, Any] | None:
    """The record in a full line (newline included), or None if the line is damaged."""
    if len(line) < 11 or line[8:9] != b" " or not line.endswith(b"\n"):
        return None
    payload = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        record: dict[str, Any] = json.loads(payload)
    except ValueError:
        return None
    return record


def _as_record(raw: dict[str, Any]) -> Record:
    if "put" in raw:
        message_id, doc = int(raw["put"]), raw["doc"]
        if "beat" in raw:
            channel = int(doc["channel"])
            return Record(
                put=(message_id, doc),
                beat=(channel, int(raw["beat"])),
                counted=(message_id, channel),
            )
        return Record(put=(message_id, doc))
    if "beat" in raw:
        channel, count = (int(value) for value in raw["beat"])
        counted = (int(raw["of"]), channel) if "of" in raw else None
        return Record(beat=(channel, count), counted=counted)
    if "del" in raw:
        return Record(deleted=int(raw["del"]))
    if "forget" in raw:
        guild, author = (int(value) for value in raw["forget"])
        return Record(forgotten=(guild, author))
    return Record(expired_before=float(raw["expire"]))


def _segment_records(path: Path) -> Iterator[Record]:
    with path.open("rb") as segment:
        for number, line in enumerate(segment, start=1):
            raw = decode_line(line)
            if raw is None:
                log.warning("skipping a damaged record in %s (line %d)", path.name, number)
                continue
            yield _as_record(raw)


def _snapshot_records(path: Path) -> Iterator[Record]:
    """The counts and counted-alone ids an index snapshot's header holds (its binary index
    is not needed: the segments say the same)."""
    try:
        with path.open("rb") as snapshot:
            header: dict[str, Any] = json.loads(snapshot.readline())
    except (OSError, ValueError) as error:
        log.warning("index snapshot %s unreadable (%s): the segments alone are read", path, error)
        return
    for channel, count in header.get("counts", []):
        yield Record(beat=(int(channel), int(count)))
    for message_id in header.get("counted_alone", []):
        yield Record(counted=(int(message_id), 0))  # its channel is not known any more


def message_records(
    data_dir: Path, seal_document: Callable[[dict[str, Any]], dict[str, Any]]
) -> Iterator[Record]:
    """Every change the old data directory holds, in order. `seal_document` prepares a
    first-release document (written before encryption existed) the way the log stored them."""
    manifest_path = data_dir / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_bytes())
    except FileNotFoundError:
        manifest = {}
    if manifest and manifest.get("format") != LOG_FORMAT:
        for message_id, doc in manifest.get("messages", {}).items():
            yield Record(put=(int(message_id), seal_document(doc)))
        return
    directory = data_dir / SEGMENTS
    if manifest.get("index"):
        yield from _snapshot_records(directory / str(manifest["index"]))
    for number, generation in manifest.get("segments", []):
        path = directory / f"{int(number):06d}.{int(generation)}.log"
        if path.exists():
            yield from _segment_records(path)
        else:
            log.warning("segment %s named by the manifest is missing", path.name)


def state_documents(data_dir: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """The (key, stored document) pairs of state/<kind>.json, as stored (sealed or not)."""
    path = data_dir / STATE / f"{kind}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    found = []
    for document in data.get("documents", {}).values():
        fields = {name: value for name, value in document.items() if name != "_key"}
        found.append((str(document["_key"]), fields))
    return found


def moved_aside(data_dir: Path, today: str) -> Path:
    """Move the old files to DATA_DIR/imported-<today>/ (a new name if that exists), kept, not
    deleted: the operator removes them once the new store has served well."""
    target = data_dir / f"imported-{today}"
    suffix = 1
    while target.exists():
        suffix += 1
        target = data_dir / f"imported-{today}-{suffix}"
    target.mkdir()
    for name in LEGACY_NAMES:
        source = data_dir / name
        if source.exists():
            os.replace(source, target / name)
    return target
