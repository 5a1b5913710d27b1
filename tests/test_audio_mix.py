"""The mixing arithmetic, on PCM frames built by hand."""

from __future__ import annotations

from array import array

from services.voice.audio_mix import FRAME_BYTES, SILENCE, Ducker, mix, scale


def frame(value: int) -> bytes:
    return array("h", [value] * (FRAME_BYTES // 2)).tobytes()


def first(pcm: bytes) -> int:
    return array("h", pcm[:2])[0]


def test_a_frame_is_20_ms_of_48_khz_stereo_16_bit() -> None:
    assert FRAME_BYTES == 3840


def test_mixing_adds_speech_to_the_scaled_music_and_clips() -> None:
    assert first(mix(frame(1000), frame(300), 0.25)) == 550
    assert first(mix(frame(30000), frame(20000), 1.0)) == 32767
    assert first(mix(frame(-30000), frame(-20000), 1.0)) == -32768
    assert first(scale(frame(1000), 0.5)) == 500
    assert scale(frame(1000), 1.0) == frame(1000)


def test_a_short_frame_is_padded_with_silence() -> None:
    mixed = mix(frame(100)[:100], frame(10), 1.0)
    assert len(mixed) == FRAME_BYTES
    assert array("h", mixed)[-1] == 10


def test_the_music_ramps_down_under_speech_and_back_up_after() -> None:
    ducker = Ducker(ducked_gain=0.25, step=0.25)
    music, speech = frame(1000), frame(0)
    assert first(ducker.mix(music, None)) == 1000
    levels = [first(ducker.mix(music, speech)) for _ in range(4)]
    assert levels == [750, 500, 250, 250]
    levels = [first(ducker.mix(music, None)) for _ in range(4)]
    assert levels == [500, 750, 1000, 1000]


def test_either_stream_alone_passes_through() -> None:
    ducker = Ducker()
    assert ducker.mix(None, frame(7)) == frame(7)
    assert ducker.mix(None, None) == SILENCE
