"""The Opus encoder the real voice client uses is there, and turns our PCM into Opus."""

from __future__ import annotations

import math
import struct

import discord

from commands.voice_audio import load_opus
from tests.audio import mono, tone_power


def tone_frame(frequency: int, start: int) -> bytes:
    """One 20 ms frame of 48 kHz stereo s16le, the format discord.py encodes."""
    samples = []
    for n in range(start, start + 960):
        value = int(12_000 * math.sin(2 * math.pi * frequency * n / 48_000))
        samples += [value, value]
    return struct.pack(f"<{len(samples)}h", *samples)


def test_libopus_loads_and_round_trips_a_tone() -> None:
    assert load_opus()  # the system's libopus, or the wheel's copy
    encoder = discord.opus.Encoder()
    decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
    frames = [tone_frame(440, 960 * n) for n in range(10)]
    packets = [encoder.encode(frame, 960) for frame in frames]
    assert all(0 < len(packet) < 400 for packet in packets)  # compressed, not raw PCM
    decoded = [decoder.decode(packet, fec=False) for packet in packets]
    # Past the codec's start-up, the 440 Hz tone comes back and 1 kHz is absent.
    assert tone_power(mono(decoded[3:]), 440) > 0.1
    assert tone_power(mono(decoded[3:]), 1000) < 0.01
