"""Copy an embedded store (`SqliteStore`, a `DATA_DIR`) into PostgreSQL (`PostgresStore`):
what `python -m app migrate-store` runs.

What is copied: every message (with its edit time), every channel's beat count, every state
document of every kind, and every token usage row. Nothing in the source changes.

Resumable and idempotent, so a run cut short (kill -9, a lost connection) is simply run
again:

- Messages go in id order, in batches, each one transaction of `INSERT ... SELECT * FROM
  unnest(...) ON CONFLICT (message_id) DO NOTHING` that also records the batch's last id in
  `store_meta` (under the source's name). A rerun starts after the last batch that committed;
  a message already there is left as it is, so nothing is ever stored twice.
- Counts are merged as `GREATEST(existing, imported)`: a count never goes back.
- State documents are upserted by (kind, key), token usage rows by their key (the copy's
  counts replace the target's, so a second copy does not add them twice).

At the end the two stores are counted per kind (messages, counted channels, documents of
each state kind) and the counts compared; the resume mark is then dropped, so the next run
(after a mismatch, say) copies everything again, harmlessly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from services.store.model import STATE_KINDS, StateKind, StoredMessage
from services.store.postgres import PostgresStore
from services.store.sqlite import SqliteStore

BATCH = 5_000  # messages per transaction

# (done, total): messages in the target so far of this copy, and all it will hold.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Tally:
    """What one store holds, per kind."""

    messages: int
    channels: int  # channels with a beat count (the target: those at least the source's)
    documents: dict[StateKind, int]
    usage: int  # token usage rows

    def rows(self) -> list[tuple[str, int]]:
        return [
            ("messages", self.messages),
            ("channel counts", self.channels),
            *((f"{kind} documents", n) for kind, n in self.documents.items()),
            ("token usage rows", self.usage),
        ]


@dataclass(frozen=True)
class MigrationReport:
    source: Tally
    target: Tally
    copied: int  # messages this run inserted
    resumed: int  # messages skipped as already copied by a run cut short
    seconds: float  # copying the messages

    @property
    def matches(self) -> bool:
        return self.source == self.target

    def differences(self) -> list[tuple[str, int, int]]:
        """(kind, in the source, in the target) of every kind whose counts differ."""
        return [
            (kind, mine, theirs)
            for (kind, mine), (_kind, theirs) in zip(
                self.source.rows(), self.target.rows(), strict=True
            )
            if mine != theirs
        ]


async def migrate_store(
    source: SqliteStore,
    target: PostgresStore,
    *,
    name: str,
    batch: int = BATCH,
    progress: Progress | None = None,
    same_key: bool = False,
) -> MigrationReport:
    """Copy `source` into `target` (see the module's docstring). `name` tells this source
    apart in the target's resume marks (its resolved path, say). `same_key`: both stores
    seal with the same key, so the texts are copied sealed, never opened and sealed again
    (four Fernet operations a message fewer: about four times as fast)."""
    counts = await source.channel_counts()
    await target.import_counts(counts)
    documents: dict[StateKind, int] = {}
    for kind in STATE_KINDS:
        items = await source.state_items(kind)
        await target.import_state(kind, items)
        documents[kind] = len(items)
    usage = await source.all_usage()
    await target.import_usage(usage)

    total = await source.message_count()
    after = await target.import_progress(name)
    export = await source.export_messages(after=after, batch=batch, sealed=same_key)
    resumed = total - export.total
    done = resumed
    copied = 0
    if progress is not None:
        progress(done, total)
    began = time.monotonic()
    async for messages in _read_ahead(export.batches):
        copied += await target.import_messages(messages, progress=name, sealed=same_key)
        done += len(messages)
        if progress is not None:
            progress(done, total)
    seconds = time.monotonic() - began

    source_tally = Tally(total, len(counts), documents, len(usage))
    target_counts = await target.channel_counts()
    target_tally = Tally(
        messages=await target.message_count(),
        channels=sum(target_counts.get(channel, 0) >= n for channel, n in counts.items()),
        documents=await target.state_counts(),
        usage=await target.usage_count(),
    )
    await target.end_import(name)
    return MigrationReport(source_tally, target_tally, copied, resumed, seconds)


async def _read_ahead(
    batches: AsyncIterator[list[StoredMessage]],
) -> AsyncIterator[list[StoredMessage]]:
    """The batches, the next one read (in the source's worker thread) while the caller
    writes the current one."""
    pending = asyncio.ensure_future(anext(batches, None))
    try:
        while (current := await pending) is not None:
            pending = asyncio.ensure_future(anext(batches, None))
            yield current
    finally:
        # The copy stopped: let a read under way end (its thread holds the source's lock,
        # which the source's close then takes) rather than abandon it mid-read.
        with contextlib.suppress(Exception):
            await pending
