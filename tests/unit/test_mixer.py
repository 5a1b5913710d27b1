"""The mixer's bookkeeping, read frame by frame as the player thread would."""

from __future__ import annotations

import asyncio
import inspect
import threading

from services.voice.audio_mix import SILENCE
from services.voice.mixer import Mixer
from services.voice.voice_player import _from_player_thread
from tests.unit.voice_fakes import FlatSource, level


def test_a_finished_source_reports_its_frames_and_the_mixer_ends_with_nothing_left() -> None:
    mixer, ended = Mixer(), list[int]()
    music = FlatSource(1000, 3)
    assert mixer.set_music(music, ended.append)
    assert [level(mixer.read()) for _ in range(3)] == [1000] * 3
    assert mixer.read() == b""  # the end of the music is the end of the mixer
    assert ended == [3]
    assert music.cleaned_up
    assert not mixer.set_music(FlatSource(1000, 3), ended.append)  # a new mixer is needed


def test_music_removed_or_replaced_is_cleaned_up_without_reporting_an_end() -> None:
    mixer, ended = Mixer(), list[int]()
    first, second = FlatSource(1000, 100), FlatSource(2000, 100)
    mixer.set_music(first, ended.append)
    mixer.read()
    mixer.set_music(second, ended.append)
    assert first.cleaned_up
    assert level(mixer.read()) == 2000
    mixer.remove_music()
    assert second.cleaned_up
    assert ended == []


def test_paused_music_gives_silence_while_speech_plays_alone() -> None:
    mixer, ended = Mixer(), list[int]()
    mixer.set_music(FlatSource(1000, 100), ended.append)
    mixer.pause_music(True)
    assert mixer.read() == SILENCE
    mixer.add_speech(FlatSource(300, 2), ended.append)
    assert [level(mixer.read()) for _ in range(2)] == [300, 300]
    assert mixer.read() == SILENCE  # the speech is over; the music is still held
    assert len(ended) == 1  # the speech's end, reported once
    assert mixer.music_seconds == 0


def test_a_callback_that_finds_the_loop_closed_closes_its_coroutine() -> None:
    loop = asyncio.new_event_loop()
    loop.close()

    async def work() -> None:
        raise AssertionError("never runs")

    coroutine = work()
    thread = threading.Thread(target=_from_player_thread, args=(coroutine, loop))
    thread.start()
    thread.join()
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED  # no "never awaited"
