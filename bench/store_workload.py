"""The store bench's workload and the figures it takes through the store's own ports.

Everything here speaks `MessageStore` and `StateStore` (and
`services.privacy.privacy.ReplyLog`), never
one implementation, so the same code measures `SqliteStore` and, from a checkout of an older
release, the store it had: the comparison is of the stores, not of two benches.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from services.privacy.privacy import ReplyLog
from services.store.model import MessageStore, StateStore, StoredMessage

GUILD = 7
CHANNELS = 400
MEMBERS = 20_000
START = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_ID = 1_300_000_000_000_000_000  # Discord-like snowflakes: they grow with time
ID_STEP = 4096  # between two generated messages' ids

CHURN_CHANGES = 10_000  # deletes and edits, one of each in turn
CHURN_ADDS_PER_CHANGE = 4  # new messages between two changes: the changes are spread out
CHURN_WRITERS = 8  # callers at once, as a busy gateway's events are
REPLY_MEMBERS = 500
REPLY_IDS_EACH = 1_000
REPLIES = 300  # bot replies measured
TICK_SECONDS = 0.001

_WORDS_TEXT = """
    the a and to of in it is that you for on was with he this as have be at but not they are
    so just like what all about if can do get one out up me no my will some there your when
    music bot song play good time lol yes really think know would people more now going
    server voice channel tonight anyone game stream watch nice thanks
"""


def _text_pool(seed: int) -> str:
    rng = random.Random(seed)
    words = _WORDS_TEXT.split()
    return " ".join(rng.choice(words) for _ in range(400_000))


class Dataset:
    """Deterministic messages: skewed channels and members, ~80 characters, some long."""

    def __init__(self, seed: int = 1) -> None:
        self._pool = _text_pool(seed)
        self._seed = seed

    def messages(self, start: int, count: int) -> Iterator[StoredMessage]:
        rng = random.Random(self._seed * 1_000_003 + start)
        pool, pool_end = self._pool, len(self._pool) - 4_000
        for n in range(start, start + count):
            length = 1_500 if rng.random() < 0.01 else int(rng.expovariate(1 / 66)) + 1
            at = rng.randrange(pool_end)
            author = int(MEMBERS * rng.random() ** 3)
            yield StoredMessage(
                message_id=message_id(n),
                guild_id=GUILD,
                channel_id=1_000 + int(CHANNELS * rng.random() ** 2),
                author_id=10_000 + author,
                author_name=f"member {author}",
                content=pool[at : at + length],
                created_at=START + timedelta(seconds=n),
            )


def message_id(n: int) -> int:
    """The id of the dataset's `n`-th message."""
    return FIRST_ID + n * ID_STEP


class Store(MessageStore, StateStore, Protocol):
    """What the figures call: the bot's store ports, which every implementation has."""


Settle = Callable[[], Awaitable[None]]  # waits for the store's background work, if it has any


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- what the process and the data directory hold -------------------------------------------


def open_fds() -> int:
    """Descriptors the process has open (Linux: /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


def files_in(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


def bytes_in(directory: Path) -> int:
    return sum(path.stat().st_size for path in files_in(directory))


def disk_figures(directory: Path) -> dict[str, int]:
    return {"fds": open_fds(), "files": len(files_in(directory)), "bytes": bytes_in(directory)}


def files_holding(directory: Path, needle: bytes) -> list[str]:
    """The files of `directory` (recursively) whose bytes contain `needle`."""
    return [
        str(path.relative_to(directory)) for path in files_in(directory) if _holds(path, needle)
    ]


def _holds(path: Path, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether the file's bytes contain `needle`, read a chunk at a time (so a large database
    does not count in the process's peak memory), chunks overlapping by the needle's length."""
    with path.open("rb") as handle:
        tail = b""
        while block := handle.read(chunk):
            if needle in tail + block:
                return True
            tail = block[-(len(needle) - 1) :]
    return False


# -- the event loop's stalls ------------------------------------------------------------------


class StallTicker:
    """A task that sleeps `TICK_SECONDS` in a loop and keeps how late it woke at most: how long
    the event loop was held by something else meanwhile."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(TICK_SECONDS)
            self.longest = max(self.longest, time.perf_counter() - began - TICK_SECONDS)

    async def __aenter__(self) -> StallTicker:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)  # it is ticking before the caller's work starts
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


# -- one bot reply, with 500 members' reply ids tracked ---------------------------------------


async def reply_figures(store: Store, *, seed: int = 3) -> dict[str, Any]:
    """`ReplyLog.add` of one reply id, as the bot does after each reply, on a store tracking
    `REPLY_IDS_EACH` ids for each of `REPLY_MEMBERS` members: its p50/p99, and the longest
    event-loop stall while the replies run (and, for the noise floor, while idle)."""
    replies = ReplyLog(store)
    next_id = message_id(50_000_000)
    began = time.perf_counter()
    for member in range(REPLY_MEMBERS):
        ids = list(range(next_id, next_id + REPLY_IDS_EACH * ID_STEP, ID_STEP))
        next_id += REPLY_IDS_EACH * ID_STEP
        await replies.add(GUILD, 10_000 + member, ids)
    setup_seconds = time.perf_counter() - began
    rng = random.Random(seed)
    samples: list[float] = []
    async with StallTicker() as busy:
        busy_began = time.perf_counter()
        for _ in range(REPLIES):
            member = 10_000 + rng.randrange(REPLY_MEMBERS)
            next_id += ID_STEP
            start = time.perf_counter()
            await replies.add(GUILD, member, [next_id])
            samples.append(time.perf_counter() - start)
        busy_seconds = time.perf_counter() - busy_began
    # The noise floor: the machine's own lateness, idle for as long (other processes run).
    async with StallTicker() as idle:
        await asyncio.sleep(busy_seconds)
    return {
        "reply_setup_seconds": setup_seconds,
        "reply_p50": percentile(samples, 0.5),
        "reply_p99": percentile(samples, 0.99),
        "reply_stall": busy.longest,
        "idle_stall": idle.longest,
    }


# -- churn: deletes and edits spread over new messages ----------------------------------------


@dataclass(frozen=True)
class Change:
    kind: str  # "delete" or "edit"
    message_id: int


def churn_plan(
    dataset: Dataset, size: int, changes: int, *, apply_changes: bool = True, seed: int = 9
) -> Iterator[StoredMessage | Change]:
    """`CHURN_ADDS_PER_CHANGE` new messages (after the `size` stored), then a delete or an
    edit of a stored message (in turn), `changes` times: the changes spread over the run.
    Without `apply_changes`, the same new messages alone (the control)."""
    rng = random.Random(seed)
    targets = rng.sample(range(size), changes)
    fresh = dataset.messages(size, changes * CHURN_ADDS_PER_CHANGE)
    for number, target in enumerate(targets):
        for _ in range(CHURN_ADDS_PER_CHANGE):
            yield next(fresh)
        if apply_changes:
            yield Change("delete" if number % 2 == 0 else "edit", message_id(target))


async def churn(
    store: Store,
    data_dir: Path,
    dataset: Dataset,
    size: int,
    changes: int,
    *,
    apply_changes: bool = True,
    time_box: float | None = None,
    settle: Settle | None = None,
) -> dict[str, Any]:
    """Run the plan with `CHURN_WRITERS` callers at once; the open descriptors, files and bytes
    of `data_dir` before and after (after `settle`), the messages added, and how long each
    change took. Members delete minutes apart, not in bursts: each change is followed by
    `settle` (the store's background work it started) before the next change begins, while
    the adds go on. With `time_box`, stops taking new work once that many seconds have
    passed."""
    # Both of the readers' threads open their connection before the "before" figure.
    await asyncio.gather(*(store.last_in_channel(1_000 + n, 5) for n in range(8)))
    if settle is not None:
        await settle()
    before = disk_figures(data_dir)
    plan = churn_plan(dataset, size, changes, apply_changes=apply_changes)
    added = done_changes = 0
    change_seconds: list[float] = []
    began = time.perf_counter()
    edited_at = START + timedelta(days=400)
    one_change_at_a_time = asyncio.Lock()

    async def writer() -> None:
        nonlocal added, done_changes
        for step in plan:  # one shared iterator: the writers take its steps in turn
            if isinstance(step, StoredMessage):
                await store.add(step, counted=True)
                added += 1
            else:
                async with one_change_at_a_time:
                    start = time.perf_counter()
                    if step.kind == "delete":
                        await store.delete(step.message_id)
                    else:
                        await store.edit(step.message_id, f"edited {step.message_id}", edited_at)
                    change_seconds.append(time.perf_counter() - start)
                    done_changes += 1
                    if settle is not None:
                        await settle()
            if time_box is not None and time.perf_counter() - began > time_box:
                return

    await asyncio.gather(*(writer() for _ in range(CHURN_WRITERS)))
    seconds = time.perf_counter() - began
    if settle is not None:
        await settle()
    after = disk_figures(data_dir)
    return {
        "before": before,
        "after": after,
        "added": added,
        "changes": done_changes,
        "seconds": seconds,
        "change_p50": percentile(change_seconds, 0.5) if change_seconds else None,
        "change_p99": percentile(change_seconds, 0.99) if change_seconds else None,
        # What the new messages take at the size per message the store had before.
        "added_bytes_estimate": round(added * before["bytes"] / size),
    }


# -- a deleted message's text leaves the disk ---------------------------------------------------


async def deleted_text(
    store: Store, data_dir: Path, *, settle: Settle | None = None
) -> dict[str, Any]:
    """Store two messages with unique texts, check every file of `data_dir` for them (the
    probe must see them, or it proves nothing), delete one and edit the other's text away,
    let the store checkpoint (`settle`), and name the files that still hold either text."""
    deleted_text, edited_text = (f"unique-{secrets.token_hex(16)}".encode() for _ in range(2))
    base = message_id(90_000_000)
    for offset, text in enumerate((deleted_text, edited_text)):
        await store.add(
            StoredMessage(
                message_id=base + offset * ID_STEP,
                guild_id=GUILD,
                channel_id=1_000,
                author_id=10_000,
                author_name="member 0",
                content=text.decode(),
                created_at=START + timedelta(days=300),
            ),
            counted=True,
        )
    if settle is not None:
        await settle()
    seen_before = sorted(
        set(files_holding(data_dir, deleted_text) + files_holding(data_dir, edited_text))
    )
    await store.delete(base)
    await store.edit(base + ID_STEP, "edited away", START + timedelta(days=301))
    if settle is not None:
        await settle()
    return {
        "seen_before": seen_before,
        "deleted_left_in": files_holding(data_dir, deleted_text),
        "edited_left_in": files_holding(data_dir, edited_text),
    }
