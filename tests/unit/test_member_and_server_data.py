"""The rules of a member's export and of a server's departure, on the in-memory store: the
grace on a clock, a re-add, one deletion across two processes, the hourly export, gzip."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta

from services.privacy.member_data import MemberData
from services.privacy.server_data import DepartureLog, ServerData, ServerDepartures
from services.servers.settings import ServerSettings
from services.store import MemoryLeases, MemoryStore, StoredAttachment, StoredMessage
from services.voice.music_queue import MusicQueues, QueueDocuments
from tests.privacy_seed import held_by, seed_server
from tests.unit.fakes import T0, world

LEFT = 77
CHANNEL = 78
ALICE, BRUNO = 501, 502


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def departures_on(
    store: MemoryStore, leases: MemoryLeases, clock: Clock, owner: str
) -> ServerDepartures:
    """One process's departures, on the shared store and leases."""
    services = await world(store=store, clock=clock)
    data = ServerData(
        store=store,
        privacy=services.privacy,
        personas=services.personas,
        servers=ServerSettings(store, default_channels=frozenset(), default_every=5),
        music_queues=MusicQueues(QueueDocuments(store), max_length=10),
    )
    return ServerDepartures(
        data=data,
        log_of_departures=DepartureLog(store),
        leases=leases,
        owner=owner,
        grace=timedelta(hours=1.5),
        clock=clock,
    )


async def test_a_departure_waits_for_the_grace_and_runs_once_across_processes() -> None:
    store, leases, clock = MemoryStore(), MemoryLeases(), Clock()
    await seed_server(store, LEFT, CHANNEL, [ALICE, BRUNO], first_id=100)
    first = await departures_on(store, leases, clock, "process-1")
    second = await departures_on(store, leases, clock, "process-2")
    scheduled = await first.schedule(LEFT, "removed")
    assert scheduled.due_at == T0 + timedelta(hours=1.5)
    clock.now = T0 + timedelta(minutes=30)
    assert (await second.schedule(LEFT, "removed again")).due_at == scheduled.due_at  # kept
    clock.now = T0 + timedelta(hours=1, minutes=29)
    assert await first.run_due() == []
    assert await held_by(store, LEFT) != []
    clock.now = T0 + timedelta(hours=1, minutes=30)
    assert await second.run_due(lambda guild: guild != LEFT) == []  # not its shard
    done = [await first.run_due(), await second.run_due()]
    assert done == [[LEFT], []]
    assert await held_by(store, LEFT) == []


async def test_a_cancelled_departure_deletes_nothing() -> None:
    store, leases, clock = MemoryStore(), MemoryLeases(), Clock()
    await seed_server(store, LEFT, CHANNEL, [ALICE], first_id=100)
    departures = await departures_on(store, leases, clock, "process-1")
    await departures.schedule(LEFT, "removed")
    assert await departures.cancel(LEFT)
    assert not await departures.cancel(LEFT)
    clock.now = T0 + timedelta(days=2)
    assert await departures.run_due() == []
    assert "messages" in await held_by(store, LEFT)


async def test_missing_guilds_are_those_held_unlisted_unscheduled_and_owned() -> None:
    store, leases, clock = MemoryStore(), MemoryLeases(), Clock()
    for n, guild in enumerate((LEFT, LEFT + 1, LEFT + 2, LEFT + 3)):
        await seed_server(store, guild, CHANNEL + n, [ALICE], first_id=100 + 10 * n)
    departures = await departures_on(store, leases, clock, "process-1")
    await departures.schedule(LEFT + 1, "removed")
    missing = await departures.missing_guilds({LEFT + 2}, lambda guild: guild != LEFT + 3)
    assert missing == [LEFT]


async def test_an_export_is_hourly_per_member_and_gzipped_past_the_limit() -> None:
    store, clock = MemoryStore(), Clock()
    await seed_server(store, LEFT, CHANNEL, [ALICE, BRUNO], first_id=100, per_member=40)
    data = MemberData(store, retention=timedelta(days=30), leases=MemoryLeases(), clock=clock)
    assert await data.may_export(ALICE) is None
    refused = await data.may_export(ALICE)
    assert refused is not None and refused.retry_at <= T0 + timedelta(hours=1)
    assert await data.may_export(BRUNO) is None  # each member has their own hour
    plain = await data.export(ALICE, size_limit=10_000_000)
    small = await data.export(ALICE, size_limit=1_000)
    assert plain.filename.endswith(".json") and small.filename.endswith(".json.gz")
    assert json.loads(gzip.decompress(small.data)) == json.loads(plain.data)
    assert plain.messages == 40
    await data.export_failed(ALICE)  # not delivered: may ask again at once
    assert await data.may_export(ALICE) is None


async def test_an_export_describes_the_files_a_message_carried_never_their_bytes() -> None:
    store = MemoryStore()
    cat = StoredAttachment("cat.png", "image/png", 52_311, "https://cdn.discordapp.com/x/cat.png")
    await store.add(
        StoredMessage(900, LEFT, CHANNEL, ALICE, "Alice", "look", T0, attachments=(cat,)),
        counted=True,
    )
    data = MemberData(store, retention=timedelta(days=30), leases=MemoryLeases(), clock=Clock())
    exported = json.loads((await data.export(ALICE, size_limit=10_000_000)).data)
    [message] = exported["messages"]
    assert message["attachments"] == [
        {
            "filename": "cat.png",
            "content_type": "image/png",
            "size": 52_311,
            "url": "https://cdn.discordapp.com/x/cat.png",
        }
    ]
