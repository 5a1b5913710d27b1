"""The guild player on in-memory fakes: playing the queue, skip, pause, resume, leaving when
idle or alone, a failing source, and speech ducking the music (measured on the PCM)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import discord
import pytest
from discord.ext import commands

from commands.presence import PresenceCog
from services.store import MemoryStore
from services.voice.music_queue import MusicQueues, QueueDocuments
from services.voice.play_request import PlayingNow, PlayRequest, Queued
from tests.unit.voice_fakes import ALICE, GUILD, LOUNGE, FakeRequester, Rig, level


def new_rig(*, idle_seconds: float) -> Rig:
    queues = MusicQueues(QueueDocuments(MemoryStore()), max_length=10)
    return Rig.build(queues, idle_seconds=idle_seconds)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    """Players that wait ten minutes before leaving: nothing leaves during a test."""
    built = new_rig(idle_seconds=600)
    yield built
    await built.close()


@pytest.fixture
async def quick_rig() -> AsyncIterator[Rig]:
    """Players that leave as soon as they are idle or alone."""
    built = new_rig(idle_seconds=0)
    yield built
    await built.close()


async def test_play_joins_and_the_output_hears_the_head_of_the_queue(rig: Rig) -> None:
    rig.audio.music[rig.finder.page("a")] = (4000, 1000)
    outcome = await rig.play("a")
    assert isinstance(outcome, PlayingNow)
    assert rig.output.channel_id == LOUNGE
    assert [level(frame) for frame in rig.output.pull(10)] == [4000] * 10
    now = rig.player.now
    assert now is not None and now.elapsed_seconds == pytest.approx(0.2)
    assert rig.finder.resolved == [rig.finder.page("a")]  # resolved once, not again to play


async def test_a_finished_track_hands_over_to_the_next_then_the_player_leaves_when_idle(
    quick_rig: Rig,
) -> None:
    rig = quick_rig
    rig.audio.music[rig.finder.page("a")] = (1000, 3)
    rig.audio.music[rig.finder.page("b")] = (2000, 3)
    await rig.play("a")
    assert isinstance(await rig.play("b"), Queued)
    output = rig.output
    assert [level(f) for f in output.pull(10)] == [1000] * 3  # then the mixer ends
    await rig.changes.until(lambda: output.mixer is not None)
    assert rig.now_title() == "b"
    assert [level(f) for f in output.pull(10)] == [2000] * 3
    await rig.changes.until(lambda: not output.connected)
    assert await rig.titles() == []
    assert rig.player.voice is None


async def test_skip_plays_the_next_track(rig: Rig) -> None:
    rig.audio.music[rig.finder.page("a")] = (1000, 1000)
    rig.audio.music[rig.finder.page("b")] = (2000, 1000)
    await rig.play("a")
    await rig.play("b")
    rig.output.pull(5)
    skipped = await rig.player.skip()
    assert skipped is not None and skipped.title == "a"
    await rig.changes.until(lambda: rig.audio.streams[-1] == rig.finder.page("b"))
    assert rig.now_title() == "b"
    assert await rig.titles() == ["b"]
    await rig.changes.until(lambda: rig.output.mixer is not None)
    assert {level(f) for f in rig.output.pull(5)} == {2000}


async def test_pause_holds_the_music_and_resume_carries_on_where_it_was(rig: Rig) -> None:
    await rig.play("a")
    output = rig.output
    output.pull(5)
    paused = rig.player.pause()
    assert paused is not None and paused.title == "a"
    assert output.is_paused()
    assert output.pull(5) == []  # nothing is sent while paused, not even silence
    resumed = await rig.player.resume(LOUNGE)
    assert resumed is not None and resumed.title == "a"
    assert not output.is_paused()
    assert len(output.pull(5)) == 5
    now = rig.player.now
    assert now is not None and not now.paused
    assert now.elapsed_seconds == pytest.approx(0.2)  # 10 frames: the pause lost none


async def test_alone_in_the_channel_the_player_pauses_then_leaves_and_keeps_the_queue(
    quick_rig: Rig,
) -> None:
    rig = quick_rig
    await rig.play("a")
    output = rig.output
    output.pull(5)
    rig.player.company_changed(False)
    await rig.changes.until(lambda: not output.connected)
    assert rig.player.voice is None
    assert await rig.titles() == ["a"]  # for /resume
    assert rig.players.playing_count() == 0


async def test_someone_back_before_the_idle_time_carries_on(rig: Rig) -> None:
    await rig.play("a")
    output = rig.output
    rig.player.company_changed(False)
    assert output.is_paused()
    assert rig.players.playing_count() == 0
    rig.player.company_changed(True)
    assert not output.is_paused()
    assert rig.players.playing_count() == 1
    async with asyncio.timeout(5):
        await rig.tasks.wait_idle()  # the pending leave was cancelled, not left to run
    assert output.connected


async def test_a_pause_by_a_member_is_kept_when_company_comes_back(rig: Rig) -> None:
    await rig.play("a")
    rig.player.pause()
    rig.player.company_changed(False)
    rig.player.company_changed(True)
    assert rig.output.is_paused()
    now = rig.player.now
    assert now is not None and now.paused


async def test_a_failing_source_is_reported_and_the_next_track_plays(rig: Rig) -> None:
    rig.audio.music[rig.finder.page("broken")] = (1000, 0)  # not a single frame
    rig.audio.music[rig.finder.page("b")] = (2000, 1000)
    requester = FakeRequester(rig.changes)
    assert isinstance(await rig.play("broken", requester=requester), PlayingNow)
    await rig.play("b")
    output = rig.output
    assert output.pull(1) == []  # the mixer ends at once
    await rig.changes.until(lambda: requester.told_failed == ["broken"])
    await rig.changes.until(lambda: output.mixer is not None)
    assert rig.now_title() == "b"
    assert await rig.titles() == ["b"]
    assert {level(f) for f in output.pull(5)} == {2000}


async def test_a_track_that_no_longer_resolves_is_reported_and_skipped(rig: Rig) -> None:
    rig.audio.music[rig.finder.page("a")] = (1000, 2)
    requester = FakeRequester(rig.changes)
    await rig.play("a")
    await rig.play("gone", requester=requester)
    await rig.play("c")
    rig.finder.gone.add(rig.finder.page("gone"))
    rig.output.pull(5)  # "a" ends: "gone" is up next, resolved again (its stream expired)
    await rig.changes.until(lambda: requester.told_failed == ["gone"])
    await rig.changes.until(lambda: rig.audio.streams[-1] == rig.finder.page("c"))
    assert rig.now_title() == "c"
    assert await rig.titles() == ["c"]


async def test_speech_over_music_ducks_the_music_then_restores_it(rig: Rig) -> None:
    music, speech = 8000, 1000
    rig.audio.music[rig.finder.page("a")] = (music, 1000)
    rig.audio.speech_level, rig.audio.speech_frames = speech, 20
    await rig.play("a")
    output = rig.output
    assert {level(f) for f in output.pull(5)} == {music}
    await rig.player.speak(LOUNGE, Path("hello.mp3"))
    heard = [level(f) for f in output.pull(40)]
    # The music ramps down over 100 ms (5 frames), stays at a quarter under the voice...
    assert heard[:5] == sorted(heard[:5], reverse=True)
    assert heard[5:20] == [music // 4 + speech] * 15
    # ... and, the voice over, ramps back up to its full level.
    assert heard[20:25] == sorted(heard[20:25])
    assert heard[25:] == [music] * 15
    assert rig.now_title() == "a"
    assert rig.audio.speeches == [Path("hello.mp3")]


async def test_speech_over_paused_music_is_heard_then_the_output_pauses_again(rig: Rig) -> None:
    await rig.play("a")
    output = rig.output
    rig.player.pause()
    await rig.player.speak(LOUNGE, Path("hello.mp3"))
    assert not output.is_paused()  # speaking takes the output out of its pause
    heard = [level(f) for f in output.pull(20)]
    assert heard == [rig.audio.speech_level] * 20  # the voice alone, the music held
    output.pull(1)  # the speech ends
    await rig.changes.until(output.is_paused)
    now = rig.player.now
    assert now is not None and now.paused and now.elapsed_seconds == 0


async def test_speech_alone_is_said_then_the_player_leaves_when_idle(quick_rig: Rig) -> None:
    rig = quick_rig
    await rig.player.speak(LOUNGE, Path("hello.mp3"))
    output = rig.output
    assert [level(f) for f in output.pull(30)] == [rig.audio.speech_level] * 20
    await rig.changes.until(lambda: not output.connected)
    assert rig.player.voice is None


async def test_disconnected_by_someone_else_the_player_stops_and_keeps_the_queue(
    rig: Rig,
) -> None:
    await rig.play("a")
    await rig.play("b")
    first = rig.output
    await rig.player.lost_connection()
    assert not first.connected and first.mixer is None
    assert await rig.titles() == ["a", "b"]
    outcome = await rig.play("c")  # connects again, and carries on with the head
    assert isinstance(outcome, Queued) and outcome.position == 3
    assert rig.output is not first
    assert rig.now_title() == "a"


async def test_the_status_line_counts_the_servers_playing_and_names_no_track(rig: Rig) -> None:
    # Every server sees the bot's status line: a private media server's file name playing in
    # one server must not show on the others.
    line = PresenceCog(
        cast(commands.Bot, object()),
        channel_ids=frozenset(),
        playing_count=rig.players.playing_count,
    )
    assert rig.players.playing_count() == 0
    await rig.play("private-recording-2026")
    other = PlayRequest(guild_id=GUILD + 1, member_id=ALICE, channel_id=LOUNGE + 1, query="b")
    await rig.requests.play(other, None)
    assert rig.players.playing_count() == 2
    activity = line.describe()
    assert (activity.type, activity.name) == (discord.ActivityType.listening, "music in 2 servers")
    rig.player.pause()
    assert line.describe().name == "music in 1 server"


async def test_two_plays_at_once_join_the_voice_channel_once(rig: Rig) -> None:
    rig.connector.handshake = asyncio.Event()  # the first join is still connecting...
    first = asyncio.create_task(rig.play("a"))
    second = asyncio.create_task(rig.play("b"))  # ...when the second /play arrives
    await rig.changes.until(lambda: len(rig.finder.resolved) == 2 and rig.connector.connecting > 0)
    for _ in range(5):  # every step the second request can take without the first
        await asyncio.sleep(0)
    rig.connector.handshake.set()
    outcomes = await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert rig.connector.connecting == 1
    assert len(rig.connector.outputs) == 1
    assert [type(o) for o in outcomes] == [PlayingNow, Queued]
    assert await rig.titles() == ["a", "b"]


async def test_a_thousand_guilds_that_played_once_leave_no_player_behind(quick_rig: Rig) -> None:
    rig = quick_rig
    rig.audio.music[rig.finder.page("a")] = (1000, 2)
    for guild in range(1, 1001):
        request = PlayRequest(guild_id=guild, member_id=ALICE, channel_id=LOUNGE, query="a")
        assert isinstance(await rig.requests.play(request), PlayingNow)
        assert [level(f) for f in rig.output.pull(10)] == [1000] * 2  # the song ends
        await rig.changes.until(lambda: not rig.output.connected)  # idle: the bot leaves
    await rig.changes.until(lambda: rig.players.guilds_in_memory == 0)
    assert len(rig.connector.outputs) == 1000


async def test_a_player_that_never_joined_goes_with_the_command(rig: Rig) -> None:
    rig.connector.refuse = "connect_failed"
    assert not isinstance(await rig.play("a"), PlayingNow)  # refused: nothing to keep
    assert rig.players.guilds_in_memory == 0
    rig.connector.refuse = None
    with rig.players.using(GUILD) as player:  # a command holds it while it runs
        assert rig.players.guilds_in_memory == 1
        assert rig.players.for_guild(GUILD) is player
    assert rig.players.guilds_in_memory == 0
    await rig.play("a")  # playing, then paused: kept
    rig.player.pause()
    assert rig.players.guilds_in_memory == 1
    await rig.players.guild_removed(GUILD)  # the bot was removed from the guild
    assert not rig.output.connected
    assert rig.players.guilds_in_memory == 0
    assert await rig.titles() == ["a"]  # the queue is the store's, until the grace period ends
