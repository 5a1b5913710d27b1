"""/play as one service call, on in-memory fakes: each outcome, and what it touched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.store import MemoryStore
from services.voice.music_queue import MusicQueues, QueueDocuments
from services.voice.play_request import PlayingNow, Queued, Refused
from services.voice.voice_ports import JoinFailure
from tests.unit.voice_fakes import ALICE, LOUNGE, QUIET_ROOM, Rig

MAX_QUEUE = 3


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    built = Rig.build(MusicQueues(QueueDocuments(MemoryStore()), max_length=MAX_QUEUE))
    yield built
    await built.close()


async def test_the_first_request_plays_now_in_the_members_channel(rig: Rig) -> None:
    outcome = await rig.play("song")
    assert isinstance(outcome, PlayingNow)
    assert outcome.track.title == "song"
    assert outcome.track.requester_id == ALICE
    assert outcome.track.page_url == rig.finder.page("song")  # the page, not the stream
    assert rig.output.channel_id == LOUNGE
    assert rig.now_title() == "song"


async def test_later_requests_are_queued_at_their_position(rig: Rig) -> None:
    await rig.play("one")
    second, third = await rig.play("two"), await rig.play("three")
    assert isinstance(second, Queued) and second.position == 2
    assert isinstance(third, Queued) and third.position == 3
    assert await rig.titles() == ["one", "two", "three"]
    assert len(rig.connector.outputs) == 1  # joined once
    assert rig.now_title() == "one"


async def test_a_member_in_no_voice_channel_is_refused_before_anything_happens(rig: Rig) -> None:
    outcome = await rig.play("song", channel_id=None)
    assert outcome == Refused("not_in_voice")
    assert rig.finder.resolved == []
    assert rig.connector.outputs == []
    assert await rig.titles() == []


async def test_a_full_queue_is_refused_without_looking_the_song_up(rig: Rig) -> None:
    for n in range(MAX_QUEUE):
        await rig.play(f"song {n}")
    looked_up = list(rig.finder.resolved)
    outcome = await rig.play("one more")
    assert outcome == Refused("queue_full", limit=MAX_QUEUE)
    assert rig.finder.resolved == looked_up
    assert len(await rig.titles()) == MAX_QUEUE


async def test_what_the_resolver_refuses_is_not_queued_and_no_channel_is_joined(
    rig: Rig,
) -> None:
    rig.finder.refuse[rig.finder.page("live show")] = "live"
    assert await rig.play("live show") == Refused("live")
    assert await rig.play("https://elsewhere.example/x") == Refused("link_not_allowed")
    assert rig.finder.resolved == [rig.finder.page("live show")]  # the link: never fetched
    assert rig.connector.outputs == []
    assert await rig.titles() == []


async def test_a_member_in_another_channel_is_told_where_the_bot_is(rig: Rig) -> None:
    await rig.play("song")
    outcome = await rig.play("other", channel_id=QUIET_ROOM)
    assert outcome == Refused("busy_elsewhere", channel_id=LOUNGE)
    assert await rig.titles() == ["song"]


@pytest.mark.parametrize("failure", ["voice_unavailable", "connect_failed"])
async def test_a_channel_the_bot_cannot_join_is_refused_and_nothing_is_queued(
    rig: Rig, failure: JoinFailure
) -> None:
    rig.connector.refuse = failure
    assert await rig.play("song") == Refused(failure, channel_id=LOUNGE)
    assert await rig.titles() == []
    assert rig.player.voice is None
