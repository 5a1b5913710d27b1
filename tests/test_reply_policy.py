from __future__ import annotations

import asyncio
from pathlib import Path

from services.reply_policy import Beat, ReplyPolicy
from services.store import TinyStore


async def observe(policy: ReplyPolicy, channel_id: int) -> Beat:
    beat = policy.count(channel_id)
    await policy.save(channel_id)
    return beat


async def test_every_fifth_message_triggers(tmp_path: Path) -> None:
    store = TinyStore(tmp_path)
    policy = ReplyPolicy(store, every=5)
    await policy.load([1])
    beats = [await observe(policy, 1) for _ in range(10)]
    await store.close()
    assert [b.count for b in beats if b.triggers] == [5, 10]


async def test_channels_count_separately(tmp_path: Path) -> None:
    store = TinyStore(tmp_path)
    policy = ReplyPolicy(store, every=2)
    await policy.load([1, 2])
    beats = [await observe(policy, channel) for channel in (1, 2, 1, 2, 2)]
    await store.close()
    assert [(b.channel_id, b.count, b.triggers) for b in beats] == [
        (1, 1, False),
        (2, 1, False),
        (1, 2, True),
        (2, 2, True),
        (2, 3, False),
    ]


async def test_the_count_survives_a_restart(tmp_path: Path) -> None:
    store = TinyStore(tmp_path)
    policy = ReplyPolicy(store, every=5)
    await policy.load([7])
    assert not any([(await observe(policy, 7)).triggers for _ in range(3)])
    await store.close()

    store = TinyStore(tmp_path)
    policy = ReplyPolicy(store, every=5)
    await policy.load([7])
    after_restart = [await observe(policy, 7) for _ in range(2)]
    await store.close()
    assert [b.triggers for b in after_restart] == [False, True]


async def test_concurrent_messages_trigger_exactly_once_per_beat_in_arrival_order(
    tmp_path: Path,
) -> None:
    store = TinyStore(tmp_path)
    policy = ReplyPolicy(store, every=5)
    await policy.load([3])
    beats = await asyncio.gather(*(observe(policy, 3) for _ in range(20)))
    assert [b.count for b in beats] == list(range(1, 21))
    assert sum(b.triggers for b in beats) == 4
    assert await store.get_state("channel_count", "3") == {"count": 20}
    await store.close()
