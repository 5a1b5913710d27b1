"""The message log: append-only segment files of checksummed records, and their index.

Files in the data directory:

    messages.json          the manifest: which segment files and which index snapshot make
                           up the store. It is replaced atomically, so the layout changes in
                           one step; files it does not name are leftovers and are removed.
    messages/N.G.log       segment N, generation G (a compaction writes generation G+1):
                           one record per line, `<crc32 as 8 hex digits> <json>`.
    messages/index.K.bin   an index snapshot: the log up to a position, so opening the store
                           replays only what came after it.

Records carry TinyDB's message documents, keyed by the Discord id, and the channels' beat
counts:

    {"put": id, "doc": {...}}       a message, or a newer version of one (an edit)
    {"put": id, "doc": {...}, "beat": n}
                                    a counted message: its channel's count is n with it, in
                                    the same line, so the message and its count are durable
                                    together or not at all
    {"beat": [channel, n], "of": id}
                                    a count alone: a message that is not kept (its author
                                    opted out)
    {"beat": [channel, n]}          the count a dropped record carried (written by
                                    compaction), or a count imported from a previous version
    {"del": id}                     tombstone of one message
    {"forget": [guild, author]}     tombstone of every earlier message of a member
    {"expire": timestamp}           tombstone of every earlier message created before it

Every version of a message has the same guild, channel, author and creation time (as on
Discord: an edit changes the text only), so the tombstones by member or by time remove the
older versions a compaction has not dropped yet too, when the log is read without a snapshot.

A channel's count is the highest beat of any record, so counts never go back, whatever is
removed: each segment keeps the record carrying its highest beat of every channel (a
compaction that drops a dead put carrying one writes a content-free `{"beat": ...}` in its
place), and the index snapshot holds the counts up to its position.

The last `RECENT_COUNTED` counted ids are remembered, so that a replay of one is not counted
again: those of kept messages in memory (while a message is kept its put says it all), those
of counts alone in the index snapshot too, since nothing else knows them: the catch-up after
a restart reads an opted-out member's messages back, and must not count them again. Those
ids name no author and no text; 10,000 of them are about 200 kB in the snapshot.

A line that was only partly written when the process died (the torn tail) fails its
checksum or lacks its newline: opening the log cuts it off. It was never acknowledged,
because an append is acknowledged only after its fsync.

Not thread-safe: the owner serializes every call (LogStore holds one lock around them).
Compaction is split into steps so that copying the bytes happens outside that lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zlib
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.store.durable_file import fsync_directory, write_atomically
from services.store.message_index import DEAD, MessageIndex, pack_location, unpack_location

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "discord-azure-bot/message-log/1"
RECENT_COUNTED = 10_000  # counted ids remembered, to know a replay of one
_READ_CHUNK = 1 << 20
_EXPORT_GAP = 16 << 10  # `documents` reads across gaps this small rather than seek


@dataclass(frozen=True, slots=True)
class LogLimits:
    segment_bytes: int = 64 << 20  # a segment is sealed and a new one started past this size
    snapshot_every: int = 50_000  # records appended before the index is snapshotted again
    compact_dead_ratio: float = 0.3  # a sealed segment this dead is rewritten
    reclaim_dead_ratio: float = 0.25  # the index drops its dead slots when this share is dead


@dataclass(frozen=True, slots=True)
class _Beat:
    """The record carrying a segment's highest beat of one channel."""

    count: int
    offset: int
    size: int
    count_only: bool  # a `{"beat": ...}` record, not a message's put


@dataclass(slots=True)
class _Segment:
    number: int
    generation: int
    fd: int
    size: int
    first_slot: int  # its live put records own the index slots from here to the next segment's
    dead_bytes: int = 0  # removed messages' records: text a purge must take off the disk
    stale_bytes: int = 0  # count records a later one in the segment supersedes
    tombstones: list[tuple[int, int]] = field(default_factory=list)  # (offset, size)
    beats: dict[int, _Beat] = field(default_factory=dict)  # channel -> its top beat here

    @property
    def file_name(self) -> str:
        return segment_file_name(self.number, self.generation)


@dataclass(frozen=True, slots=True)
class CompactionPlan:
    """What to keep of a sealed segment.

    `pieces`: (offset in the old file, size, slot) of every record kept, by offset; the slot
    of a message's put, None for a tombstone or a count record. Plain tuples: a segment has
    hundreds of thousands of records, and the plan is made under the lock. `beats`: the
    channel whose top beat in the segment a kept record carries, by its offset. `written`: the
    count records written anew, by the offset of the dropped put whose count they keep.
    """

    number: int
    generation: int
    fd: int
    pieces: list[tuple[int, int, int | None]]
    beats: dict[int, int]
    written: dict[int, bytes]


class RecentIds:
    """The last `bound` ids added, for membership tests."""

    def __init__(self, bound: int) -> None:
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self._bound = bound

    def __contains__(self, message_id: int) -> bool:
        return message_id in self._ids

    def add(self, message_id: int) -> None:
        if message_id in self._ids:
            return
        self._order.append(message_id)
        self._ids.add(message_id)
        if len(self._order) > self._bound:
            self._ids.discard(self._order.popleft())

    def ids(self) -> list[int]:
        """Oldest first: added again in this order, they are the same set."""
        return list(self._order)


@dataclass(frozen=True, slots=True)
class Snapshot:
    name: str
    header: dict[str, Any]
    parts: list[bytes]


def segment_file_name(number: int, generation: int) -> str:
    return f"{number:06d}.{generation}.log"


def encode_record(record: dict[str, Any]) -> bytes:
    payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode_record(line: bytes) -> dict[str, Any] | None:
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


class MessageLog:
    def __init__(
        self,
        data_dir: Path,
        limits: LogLimits,
        *,
        import_document: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        """Open (or create) the log; `import_document` prepares a pre-log TinyDB document."""
        self._limits = limits
        self._import_document = import_document
        self._manifest_path = data_dir / "messages.json"
        self._directory = data_dir / "messages"
        self._directory.mkdir(parents=True, exist_ok=True)
        self._index = MessageIndex()
        self._segments: dict[int, _Segment] = {}  # ascending segment number
        self._committed: dict[int, int] = {}  # segment number -> generation in the manifest
        self._counts: dict[int, int] = {}  # channel -> its beat count
        # The last ids that carried a count: of kept messages, of counts alone (snapshotted).
        self._counted_kept = RecentIds(RECENT_COUNTED)
        self._counted_alone = RecentIds(RECENT_COUNTED)
        self._snapshot_name: str | None = None
        self._next_snapshot = 1
        self.appended_since_snapshot = 0
        self._open()

    # -- opening ----------------------------------------------------------------------------

    def _open(self) -> None:
        manifest, legacy_documents = self._read_manifest()
        self._committed = {number: generation for number, generation in manifest["segments"]}
        self._snapshot_name = manifest["index"]
        if self._snapshot_name is not None:
            self._next_snapshot = int(self._snapshot_name.split(".")[1]) + 1
        self._remove_unlisted_files()
        for number, generation in self._committed.items():
            fd = os.open(self._directory / segment_file_name(number, generation), os.O_RDWR)
            self._segments[number] = _Segment(number, generation, fd, os.fstat(fd).st_size, 0)
        start = self._load_snapshot()
        self._replay(start)
        if legacy_documents:
            self._import_legacy(legacy_documents)
        elif not self._segments:
            self._start_segment(1)

    def _read_manifest(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The manifest, and the documents of a pre-log TinyDB messages.json to import."""
        empty: dict[str, Any] = {"format": MANIFEST_FORMAT, "segments": [], "index": None}
        try:
            data: dict[str, Any] = json.loads(self._manifest_path.read_bytes())
        except FileNotFoundError:
            return empty, {}
        if data.get("format") == MANIFEST_FORMAT:
            return data, {}
        # The first version of the store kept every message in one TinyDB file.
        return empty, data.get("messages", {})

    def _remove_unlisted_files(self) -> None:
        # Leftovers of a compaction, a snapshot or a new segment the crash kept unlisted.
        listed = {segment_file_name(n, g) for n, g in self._committed.items()}
        listed.add(self._snapshot_name or "")
        for path in self._directory.iterdir():
            if path.name not in listed:
                path.unlink()

    def _load_snapshot(self) -> tuple[int, int]:
        """Load the index snapshot, if any; returns the log position it covers."""
        if self._snapshot_name is None:
            return 0, 0
        try:
            raw = (self._directory / self._snapshot_name).read_bytes()
            header_line, _, blob = raw.partition(b"\n")
            header: dict[str, Any] = json.loads(header_line)
            if header["crc"] != zlib.crc32(blob):
                raise ValueError("checksum mismatch")
            segments = {state["number"]: state for state in header["segments"]}
            if any(self._committed.get(n) != s["generation"] for n, s in segments.items()):
                raise ValueError("segments changed since the snapshot")
            self._index = MessageIndex.from_snapshot(header["index"], memoryview(blob))
            # Snapshots written before the counts moved into the log have none: nor has the log.
            counts = {int(channel): int(count) for channel, count in header.get("counts", [])}
            counted_alone = [int(message_id) for message_id in header.get("counted_alone", [])]
        except (OSError, ValueError, KeyError) as error:
            log.warning("index snapshot unusable (%s): rebuilding it from the log", error)
            self._index = MessageIndex()
            return 0, 0
        self._counts = counts
        for message_id in counted_alone:
            self._counted_alone.add(message_id)
        for number, state in segments.items():
            segment = self._segments[number]
            segment.first_slot = state["first_slot"]
            segment.dead_bytes = state["dead_bytes"]
            segment.stale_bytes = state.get("stale_bytes", 0)
            segment.tombstones = [(offset, size) for offset, size in state["tombstones"]]
            segment.beats = {
                channel: _Beat(count, offset, size, count_only)
                for channel, count, offset, size, count_only in state.get("beats", [])
            }
        number, offset = header["position"]
        return int(number), int(offset)

    def _replay(self, start: tuple[int, int]) -> None:
        start_number, start_offset = start
        numbers = [n for n in self._segments if n >= start_number]
        for number in numbers:
            segment = self._segments[number]
            offset = start_offset if number == start_number else 0
            if number != start_number:
                segment.first_slot = len(self._index)
            end = offset
            for line_offset, line in _lines(segment.fd, offset, segment.size):
                record = decode_record(line)
                if record is None:
                    if number == numbers[-1] and not line.endswith(b"\n"):
                        break  # the torn tail: cut below
                    log.warning(
                        "skipping a damaged record in %s at %d", segment.file_name, line_offset
                    )
                else:
                    self._apply(record, segment, line_offset, len(line))
                end = line_offset + len(line)
            if end < segment.size and number == numbers[-1]:
                log.warning("cutting %d torn bytes off %s", segment.size - end, segment.file_name)
                os.ftruncate(segment.fd, end)
                os.fsync(segment.fd)
                segment.size = end

    def _import_legacy(self, documents: dict[str, Any]) -> None:
        # The manifest is written last: it replaces the old file, so a crash before that
        # leaves the old file in charge and the import starts again.
        self._start_segment(1, commit=False)
        for doc_id, doc in documents.items():
            self.append({"put": int(doc_id), "doc": self._import_document(doc)}, durable=False)
        self.sync()
        self._write_manifest()
        log.info("imported %d messages from the previous TinyDB messages.json", len(documents))

    # -- appending --------------------------------------------------------------------------

    @property
    def _active(self) -> _Segment:
        return self._segments[next(reversed(self._segments))]

    def append(self, record: dict[str, Any], *, durable: bool = True) -> int:
        """Append one record and index it; returns how many messages it removed."""
        line = encode_record(record)
        segment = self._active
        if segment.size > 0 and segment.size + len(line) > self._limits.segment_bytes:
            segment = self._rotate()
        offset = segment.size
        try:
            _write_all(segment.fd, line, offset)
            if durable:
                os.fdatasync(segment.fd)
        except BaseException:
            os.ftruncate(segment.fd, offset)  # never leave a half record before the next one
            raise
        segment.size += len(line)
        self.appended_since_snapshot += 1
        return self._apply(record, segment, offset, len(line))

    def sync(self) -> None:
        os.fdatasync(self._active.fd)

    def _rotate(self) -> _Segment:
        os.fsync(self._active.fd)
        return self._start_segment(self._active.number + 1)

    def _start_segment(self, number: int, *, commit: bool = True) -> _Segment:
        path = self._directory / segment_file_name(number, 0)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fsync_directory(self._directory)
        segment = _Segment(number, 0, fd, 0, len(self._index))
        self._segments[number] = segment
        self._committed[number] = 0
        if commit:
            self._write_manifest()
        return segment

    def _apply(self, record: dict[str, Any], segment: _Segment, offset: int, size: int) -> int:
        index = self._index
        if "put" in record:
            doc = record["doc"]
            location = pack_location(segment.number, offset)
            replaced = index.put(
                record["put"],
                guild_id=doc["guild"],
                channel_id=doc["channel"],
                author_id=doc["author"],
                created=doc["created_at"],
                location=location,
                size=size,
            )
            if replaced is not None:
                self._count_dead(*replaced)  # an older version: its text must go too
            if "beat" in record:
                self._note_beat(segment, doc["channel"], record["beat"], offset, size, False)
                self._counted_kept.add(record["put"])
            return 0
        if "beat" in record:
            channel_id, count = record["beat"]
            self._note_beat(segment, channel_id, count, offset, size, True)
            if "of" in record:
                self._counted_alone.add(record["of"])
            return 0
        segment.tombstones.append((offset, size))
        if "del" in record:
            slot = index.live_slot(record["del"])
            if slot is None:
                return 0
            self._count_dead(*index.where(slot))
            index.kill(slot)
            return 1
        if "forget" in record:
            guild_id, author_id = record["forget"]
            killed = index.kill_author(guild_id, author_id)
        else:
            killed = index.kill_older_than(record["expire"])
        for location, dead_size in killed:
            self._count_dead(location, dead_size)
        return len(killed)

    def _note_beat(
        self, segment: _Segment, channel_id: int, count: int, offset: int, size: int, alone: bool
    ) -> None:
        if count > self._counts.get(channel_id, 0):
            self._counts[channel_id] = count
        top = segment.beats.get(channel_id)
        if top is not None and top.count > count:  # counts only grow; keep the higher one
            if alone:
                segment.stale_bytes += size
            return
        if top is not None and top.count_only:
            segment.stale_bytes += top.size
        segment.beats[channel_id] = _Beat(count, offset, size, alone)

    def _count_dead(self, location: int, size: int) -> None:
        if location != DEAD:
            self._segments[unpack_location(location)[0]].dead_bytes += size

    # -- reading ----------------------------------------------------------------------------

    def is_live(self, message_id: int) -> bool:
        return self._index.live_slot(message_id) is not None

    def document(self, message_id: int) -> dict[str, Any] | None:
        """The stored document of a live message, or None."""
        slot = self._index.live_slot(message_id)
        return None if slot is None else self._read(slot)[1]

    def documents(self, message_ids: list[int]) -> list[tuple[int, dict[str, Any]]]:
        """(message id, document) of the live messages among `message_ids`, in that order:
        `document` for many at once (an export), with one read per run of nearby records
        and one JSON parse for them all."""
        index = self._index
        places = [
            index.where(slot) for i in message_ids if (slot := index.live_slot(i)) is not None
        ]
        order = sorted(range(len(places)), key=places.__getitem__)  # file order
        payloads = [b""] * len(places)
        first = 0
        while first < len(order):
            number, start = unpack_location(places[order[first]][0])
            end, last = start + places[order[first]][1], first + 1
            while last < len(order) and end - start < _READ_CHUNK:
                next_number, offset = unpack_location(places[order[last]][0])
                if next_number != number or offset - end > _EXPORT_GAP:
                    break
                end, last = offset + places[order[last]][1], last + 1
            segment = self._segments[number]
            data = os.pread(segment.fd, end - start, start)
            for k in order[first:last]:
                location, size = places[k]
                offset = unpack_location(location)[1]
                line = data[offset - start : offset - start + size]
                payloads[k] = line[9:-1]
                if (
                    line[8:9] != b" "
                    or line[-1:] != b"\n"
                    or int(line[:8], 16) != zlib.crc32(payloads[k])
                ):
                    raise OSError(f"damaged record in {segment.file_name} at {offset}")
            first = last
        records = json.loads(b"[" + b",".join(payloads) + b"]")
        return [(record["put"], record["doc"]) for record in records]

    def last_of_channel(
        self, channel_id: int, limit: int, up_to: int | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        """(message id, document) of the channel's last live messages, oldest first."""
        return [self._read(slot) for slot in self._index.last_of_channel(channel_id, limit, up_to)]

    def last_of_author(
        self, guild_id: int, author_id: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """(message id, document) of the member's last live messages, oldest first."""
        slots = self._index.last_of_author(guild_id, author_id, limit)
        return [self._read(slot) for slot in slots]

    def has_messages_of(self, guild_id: int, author_id: int) -> bool:
        return bool(self._index.last_of_author(guild_id, author_id, 1))

    def channel_count(self, channel_id: int) -> int:
        """The channel's beat count: the highest beat of any record (0: none yet)."""
        return self._counts.get(channel_id, 0)

    def was_counted(self, message_id: int) -> bool:
        """Whether the message is among the last `RECENT_COUNTED` ids that carried a count."""
        return message_id in self._counted_kept or message_id in self._counted_alone

    def channel_counts(self) -> dict[int, int]:
        """Every channel's beat count (a copy), for an export."""
        return dict(self._counts)

    def live_ids(self, after: int | None = None) -> list[int]:
        """The ids of the live messages above `after`, ascending, for an export."""
        return self._index.live_ids(after).tolist()

    def import_counts(self, counts: dict[int, int]) -> int:
        """Raise channels' counts to at least `counts` (durably); returns how many rose.
        Importing the same counts again changes nothing, so an import cut short by a crash
        is simply done again."""
        risen = 0
        for channel_id, count in counts.items():
            if count > self.channel_count(channel_id):
                self.append({"beat": [channel_id, count]}, durable=False)
                risen += 1
        self.sync()
        return risen

    def index_figures(self) -> tuple[int, int]:
        """(slots, live slots) of the index: what a reclaim keeps the size of the live set."""
        return len(self._index), len(self._index) - self._index.dead_slots()

    def _read(self, slot: int) -> tuple[int, dict[str, Any]]:
        """The (message id, document) of a live slot."""
        location, size = self._index.where(slot)
        number, offset = unpack_location(location)
        line = os.pread(self._segments[number].fd, size, offset)
        record = decode_record(line)
        if record is None:
            raise OSError(f"damaged record in {self._segments[number].file_name} at {offset}")
        return record["put"], record["doc"]

    # -- compaction -------------------------------------------------------------------------

    def segments_to_compact(self, *, purge: bool) -> list[int]:
        """Sealed segments worth rewriting; with `purge`, every one holding a removed
        message's record (superseded count records alone never call for a purge)."""
        active = self._active.number
        ratio = self._limits.compact_dead_ratio
        return [
            s.number
            for s in self._segments.values()
            if s.number != active
            and (
                s.dead_bytes > 0
                if purge
                else s.dead_bytes + s.stale_bytes > 0
                and s.dead_bytes + s.stale_bytes >= ratio * s.size
            )
        ]

    def active_has_dead_records(self) -> bool:
        return self._active.dead_bytes > 0

    def seal_active(self) -> None:
        """Start a new segment so that the current one can be compacted."""
        if self._active.size > 0:
            self._rotate()

    def plan_compaction(self, number: int) -> CompactionPlan:
        segment = self._segments[number]
        numbers = list(self._segments)
        end_slot = self._segments[numbers[numbers.index(number) + 1]].first_slot
        pieces: list[tuple[int, int, int | None]] = [
            (unpack_location(location)[1], size, slot)
            for location, size, slot in self._index.live_records(segment.first_slot, end_slot)
        ]
        pieces.sort()  # by offset (already, as slots follow records: this costs one pass)
        beats: dict[int, int] = {}
        written: dict[int, bytes] = {}
        kept: list[tuple[int, int, int | None]] = []
        for channel_id, top in segment.beats.items():
            beats[top.offset] = channel_id
            if top.count_only:
                kept.append((top.offset, top.size, None))
                continue
            at = bisect_left(pieces, (top.offset,))
            if at == len(pieces) or pieces[at][0] != top.offset:
                # The message that carried the count is gone; its count stays, content-free.
                line = written[top.offset] = encode_record({"beat": [channel_id, top.count]})
                kept.append((top.offset, len(line), None))
        if number != numbers[0]:
            # An older segment may still hold what these tombstones delete.
            kept.extend((offset, size, None) for offset, size in segment.tombstones)
        pieces.extend(kept)
        pieces.sort()  # by offset: no two records share one (else the sort fails, loudly)
        return CompactionPlan(number, segment.generation + 1, segment.fd, pieces, beats, written)

    def write_compacted(self, plan: CompactionPlan) -> None:
        """Copy the kept records into the next generation's file (outside the lock)."""
        path = self._directory / segment_file_name(plan.number, plan.generation)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            written = 0
            for chunk in _chunks(plan.pieces, plan.written):
                if isinstance(chunk, bytes):
                    _write_all(fd, chunk, written)
                    written += len(chunk)
                else:
                    written += _copy_range(plan.fd, *chunk, fd, written)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_directory(self._directory)

    def install_compacted(self, plan: CompactionPlan) -> Path:
        """Serve the segment from its new generation; returns the file to delete once the
        manifest names the new one."""
        segment = self._segments[plan.number]
        old_path = self._directory / segment.file_name
        new_path = self._directory / segment_file_name(plan.number, plan.generation)
        new_fd = os.open(new_path, os.O_RDWR)
        offset = 0
        dead_bytes = 0
        tombstones: list[tuple[int, int]] = []
        beats: dict[int, _Beat] = {}
        for old_offset, size, slot in plan.pieces:
            if slot is not None and not self._index.move(
                slot, pack_location(plan.number, old_offset), pack_location(plan.number, offset)
            ):
                dead_bytes += size  # deleted while the copy was being written
            channel_id = plan.beats.get(old_offset)
            if channel_id is not None:
                count = segment.beats[channel_id].count
                beats[channel_id] = _Beat(count, offset, size, slot is None)
            elif slot is None:
                tombstones.append((offset, size))
            offset += size
        os.close(segment.fd)
        segment.fd, segment.generation, segment.size = new_fd, plan.generation, offset
        segment.dead_bytes, segment.stale_bytes = dead_bytes, 0
        segment.tombstones, segment.beats = tombstones, beats
        return old_path

    # -- reclaiming index slots ----------------------------------------------------------------

    def reclaim_slots_if_due(self) -> bool:
        """Renumber the index without its dead slots when they are many, or when a member has
        no live message left: the next snapshot must hold neither their id nor the ids and
        times of their messages. Slot numbers change, so no compaction plan may be pending."""
        index = self._index
        dead = index.dead_slots()
        due = index.has_members_without_messages() or (
            dead > 0 and dead >= self._limits.reclaim_dead_ratio * len(index)
        )
        if not due:
            return False
        rank = index.reclaim()
        for segment in self._segments.values():
            segment.first_slot = rank[segment.first_slot]
        return True

    # -- snapshots and the manifest -----------------------------------------------------------

    def prepare_snapshot(self) -> Snapshot:
        """Freeze the index (inside the lock); writing it happens outside, while records are
        appended: nothing in the snapshot may be a list the log still changes."""
        index_header, parts = self._index.to_snapshot()
        active = self._active
        header = {
            "index": index_header,
            "position": [active.number, active.size],
            "counts": [[channel_id, count] for channel_id, count in self._counts.items()],
            "counted_alone": self._counted_alone.ids(),
            "segments": [
                {
                    "number": s.number,
                    "generation": s.generation,
                    "first_slot": s.first_slot,
                    "dead_bytes": s.dead_bytes,
                    "stale_bytes": s.stale_bytes,
                    "tombstones": list(s.tombstones),  # a copy: more come meanwhile
                    "beats": [
                        [channel_id, b.count, b.offset, b.size, b.count_only]
                        for channel_id, b in s.beats.items()
                    ],
                }
                for s in self._segments.values()
            ],
        }
        name = f"index.{self._next_snapshot}.bin"
        self._next_snapshot += 1
        self.appended_since_snapshot = 0
        return Snapshot(name, header, parts)

    def write_snapshot(self, snapshot: Snapshot) -> None:
        crc = 0
        for part in snapshot.parts:
            crc = zlib.crc32(part, crc)
        header_line = json.dumps({**snapshot.header, "crc": crc}).encode() + b"\n"
        path = self._directory / snapshot.name
        with path.open("wb") as handle:
            handle.write(header_line)
            for part in snapshot.parts:
                handle.write(part)
            handle.flush()
            os.fsync(handle.fileno())
        fsync_directory(self._directory)

    def commit_snapshot(self, snapshot: Snapshot) -> list[Path]:
        """Name the snapshot (and the segments' current generations) in the manifest;
        returns the files that are no longer needed."""
        generations = {s["number"]: s["generation"] for s in snapshot.header["segments"]}
        obsolete = [
            self._directory / segment_file_name(number, generation)
            for number, generation in self._committed.items()
            if generations.get(number, generation) != generation
        ]
        if self._snapshot_name is not None:
            obsolete.append(self._directory / self._snapshot_name)
        self._committed.update(generations)
        self._snapshot_name = snapshot.name
        self._write_manifest()
        return obsolete

    def _write_manifest(self) -> None:
        manifest = {
            "format": MANIFEST_FORMAT,
            "segments": [[number, generation] for number, generation in self._committed.items()],
            "index": self._snapshot_name,
        }
        write_atomically(self._manifest_path, json.dumps(manifest).encode())

    def close(self) -> None:
        for segment in self._segments.values():
            os.close(segment.fd)
        self._segments.clear()


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _lines(fd: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) from `start` to `end`; the last line may lack its newline."""
    pending = b""
    position = start
    while position < end:
        chunk = os.pread(fd, min(_READ_CHUNK, end - position), position)
        if not chunk:
            break
        line_start = position - len(pending)
        data = pending + chunk
        position += len(chunk)
        cursor = 0
        while (newline := data.find(b"\n", cursor)) != -1:
            yield line_start + cursor, data[cursor : newline + 1]
            cursor = newline + 1
        pending = data[cursor:]
    if pending:
        yield position - len(pending), pending


def _chunks(
    pieces: list[tuple[int, int, int | None]], written: dict[int, bytes]
) -> Iterator[tuple[int, int] | bytes]:
    """What to write, in order: (offset, length) runs of adjacent records to copy in one
    call each, and the bytes of records written anew."""
    run_start, run_length = -1, 0
    for offset, size, _slot in pieces:
        data = written.get(offset) if written else None
        if data is None and offset == run_start + run_length:
            run_length += size
            continue
        if run_length:
            yield run_start, run_length
        if data is not None:
            yield data
            run_start, run_length = -1, 0
        else:
            run_start, run_length = offset, size
    if run_length:
        yield run_start, run_length


def _copy_range(source: int, source_offset: int, n: int, target: int, target_offset: int) -> int:
    copied = 0
    while copied < n:
        data = os.pread(source, min(n - copied, _READ_CHUNK), source_offset + copied)
        if not data:
            raise OSError("segment shorter than its index says")
        _write_all(target, data, target_offset + copied)
        copied += len(data)
    return copied
