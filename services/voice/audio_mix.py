"""Mixing two PCM streams frame by frame: speech over music, with the music ducked.

Discord voice takes 20 ms frames of 48 kHz stereo signed 16-bit little-endian PCM
(3,840 bytes). This module is the arithmetic only; the mixer that feeds it frames is
`services/voice/mixer.py`.
"""

from __future__ import annotations

import sys
from array import array

SAMPLE_RATE = 48_000
CHANNELS = 2
SAMPLE_BYTES = 2
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * CHANNELS * SAMPLE_BYTES  # 3,840
SILENCE = bytes(FRAME_BYTES)

_MIN, _MAX = -32768, 32767
_BIG_ENDIAN = sys.byteorder == "big"


def _samples(frame: bytes) -> array[int]:
    if len(frame) < FRAME_BYTES:  # a short last frame is padded with silence
        frame = frame + bytes(FRAME_BYTES - len(frame))
    samples = array("h", frame[:FRAME_BYTES])
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples


def _frame(samples: array[int]) -> bytes:
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples.tobytes()


def scale(frame: bytes, gain: float) -> bytes:
    """One frame with every sample multiplied by `gain` (clipped to 16 bits)."""
    if gain == 1.0:
        return frame
    return _frame(array("h", [min(_MAX, max(_MIN, int(s * gain))) for s in _samples(frame)]))


def mix(music: bytes, speech: bytes, music_gain: float) -> bytes:
    """Speech at full level over the music at `music_gain`, clipped to 16 bits."""
    mixed = [
        min(_MAX, max(_MIN, int(m * music_gain) + s))
        for m, s in zip(_samples(music), _samples(speech), strict=True)
    ]
    return _frame(array("h", mixed))


class Ducker:
    """Mixes a frame of music and a frame of speech, either of which may be missing.

    While speech plays, the music is lowered to `ducked_gain`; the gain moves by `step` per
    frame (a 100 ms ramp by default) so the change never clicks.
    """

    def __init__(self, *, ducked_gain: float = 0.25, step: float = 0.15) -> None:
        self.ducked_gain = ducked_gain
        self.step = step
        self.music_gain = 1.0

    def _move_gain(self, speaking: bool) -> None:
        target = self.ducked_gain if speaking else 1.0
        if self.music_gain > target:
            self.music_gain = max(target, self.music_gain - self.step)
        else:
            self.music_gain = min(target, self.music_gain + self.step)

    def mix(self, music: bytes | None, speech: bytes | None) -> bytes:
        self._move_gain(speech is not None)
        if music is None:
            return speech if speech is not None else SILENCE
        if speech is None:
            return scale(music, self.music_gain)
        return mix(music, speech, self.music_gain)
