"""Real audio for the voice tests: tones made with FFmpeg, and a look at PCM as sound.

`tone_power` is the Goertzel algorithm: the strength of one frequency in a run of PCM, with
plain arithmetic (no numpy), enough to tell a 440 Hz "song" from a 1,000 Hz "voice".
"""

from __future__ import annotations

import math
import subprocess
import sys
from array import array
from collections.abc import Mapping
from pathlib import Path

import imageio_ffmpeg

from services.voice.audio_mix import SAMPLE_RATE

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_tone(
    path: Path,
    *,
    frequency: int,
    seconds: float,
    amplitude: float = 0.5,
    rate: int = 44_100,
    tags: Mapping[str, str] | None = None,
) -> Path:
    """A sine tone encoded by FFmpeg as the file's extension says (mp3, ogg, wav), with
    `tags` (title, artist...) as its metadata."""
    volume = amplitude * 8  # lavfi's sine has an amplitude of 1/8
    source = f"sine=frequency={frequency}:duration={seconds}:sample_rate={rate}"
    codec = {".ogg": ["-c:a", "libvorbis"], ".mp3": ["-b:a", "128k"]}.get(path.suffix, [])
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    command += ["-af", f"volume={volume}", "-ac", "2", *codec]
    for key, value in (tags or {}).items():
        command += ["-metadata", f"{key}={value}"]
    command.append(str(path))
    subprocess.run(command, check=True, capture_output=True)
    return path


def mono(frames: list[bytes]) -> list[float]:
    """The left channel of s16le stereo frames, as floats in [-1, 1]."""
    samples = array("h", b"".join(frames))
    if sys.byteorder == "big":
        samples.byteswap()
    return [s / 32768 for s in samples[::2]]


def tone_power(samples: list[float], frequency: float, rate: int = SAMPLE_RATE) -> float:
    """Goertzel: the amplitude of `frequency` in `samples` (about 0.5 for a 0.5 sine)."""
    if not samples:
        return 0.0
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return 2 * math.sqrt(max(power, 0.0)) / len(samples)
