"""Music and speech read together, 20 ms at a time, into the one PCM stream a guild hears.

The voice client's player thread calls `Mixer.read` every 20 ms; the event loop swaps sources
under it. The arithmetic (speech over ducked music) is `services.voice.audio_mix`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from services.voice.audio_mix import FRAME_MS, SILENCE, Ducker

EndCallback = Callable[[int], None]  # called on the player thread with the frames played


class PcmSource(Protocol):
    """A decoder giving 20 ms frames of 48 kHz stereo s16le PCM (FFmpeg, in production)."""

    def read(self) -> bytes:
        """The next frame; empty once the source is finished (or failed)."""
        ...

    def cleanup(self) -> None:
        """Release the decoder (end its process); called once the source is done with."""
        ...


@dataclass
class _Slot:
    source: PcmSource
    on_end: EndCallback
    frames: int = 0


class Mixer:
    """One music source and a queue of speech, mixed frame by frame.

    Sources are read outside the lock (a stalled stream must never block the event loop,
    which swaps sources under it). A source that returns no data is finished: its callback
    gets the number of frames it gave. With neither music nor speech left the mixer ends
    (`read` returns no data), and the voice client's player with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._music: _Slot | None = None
        self._music_paused = False
        self._speech: deque[_Slot] = deque()
        self._ducker = Ducker()
        self._ended = False

    @property
    def music_seconds(self) -> float:
        slot = self._music
        return slot.frames * FRAME_MS / 1000 if slot else 0.0

    @property
    def speaking(self) -> bool:
        return bool(self._speech)

    def set_music(self, source: PcmSource, on_end: EndCallback) -> bool:
        """Play `source` as the music from the next frame; False if the mixer has ended."""
        with self._lock:
            if self._ended:
                return False
            old, self._music = self._music, _Slot(source, on_end)
            self._music_paused = False
        if old is not None:
            old.source.cleanup()
        return True

    def remove_music(self) -> None:
        """Drop the music without reporting its end (a skip or a stop)."""
        with self._lock:
            old, self._music = self._music, None
        if old is not None:
            old.source.cleanup()

    def pause_music(self, paused: bool) -> None:
        self._music_paused = paused

    def add_speech(self, source: PcmSource, on_end: EndCallback) -> bool:
        """Say `source` after any speech already queued; False if the mixer has ended."""
        with self._lock:
            if self._ended:
                return False
            self._speech.append(_Slot(source, on_end))
        return True

    def read(self) -> bytes:
        with self._lock:
            music = None if self._music_paused else self._music
            speech = self._speech[0] if self._speech else None
        music_frame = music.source.read() if music else None
        speech_frame = speech.source.read() if speech else None
        finished: list[_Slot] = []
        with self._lock:
            if music is not None:
                if music_frame:
                    music.frames += 1
                elif self._music is music:  # not swapped out meanwhile
                    self._music = None
                    finished.append(music)
            if speech is not None and not speech_frame and self._speech[0] is speech:
                self._speech.popleft()
                finished.append(speech)
            if self._music is None and not self._speech and not music_frame and not speech_frame:
                self._ended = True
        for slot in finished:
            slot.source.cleanup()
            slot.on_end(slot.frames)
        if self._ended:
            return b""
        if self._music_paused and not speech_frame:
            return SILENCE
        return self._ducker.mix(music_frame or None, speech_frame or None)

    def cleanup(self) -> None:
        with self._lock:
            self._ended = True
            slots = [*([self._music] if self._music else []), *self._speech]
            self._music = None
            self._speech.clear()
        for slot in slots:
            slot.source.cleanup()
