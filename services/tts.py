"""Text to speech with ElevenLabs: the only module that touches the elevenlabs SDK.

Spoken phrases are cached on disk (one MP3 per voice, model and text, named by a hash), so a
phrase said again costs no request. The cache is bounded; the oldest phrases go first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import httpx
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError

from services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger(__name__)

OUTPUT_FORMAT = "mp3_44100_128"
CACHE_ENTRIES = 500

SpeechFailure = Literal[
    "invalid_key",
    "quota_exceeded",
    "rate_limited",
    "unavailable",
    "timeout",
    "voice_not_found",  # from `check_voice` only
]


class SpeechError(Exception):
    """ElevenLabs did not speak; `kind` picks the sentence the member reads."""

    def __init__(self, kind: SpeechFailure, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def _detail_status(body: Any) -> str | None:
    detail = body.get("detail") if isinstance(body, dict) else None
    status = detail.get("status") if isinstance(detail, dict) else None
    return status if isinstance(status, str) else None


def classify_api_error(error: ApiError) -> SpeechError:
    """A bad key and an exhausted quota are both 401; the body's detail tells them apart."""
    status = error.status_code or 0
    if status == 401:
        kind: SpeechFailure
        kind = "quota_exceeded" if _detail_status(error.body) == "quota_exceeded" else "invalid_key"
        return SpeechError(kind, str(status))
    if status == 429:
        return SpeechError("rate_limited", str(status))
    return SpeechError("unavailable", str(status))


class SpeechCache:
    """Spoken MP3s in one directory, written atomically, at most `max_entries` of them."""

    def __init__(self, directory: Path, *, max_entries: int = CACHE_ENTRIES) -> None:
        self.directory = directory
        self.max_entries = max_entries

    @staticmethod
    def key(voice_id: str, model_id: str, text: str) -> str:
        return hashlib.sha256(
            f"{voice_id}\0{model_id}\0{OUTPUT_FORMAT}\0{text}".encode()
        ).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.mp3"

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        try:
            os.utime(path)  # recently used: pruned last
        except FileNotFoundError:
            return None
        return path

    def put(self, key: str, audio: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".speech.", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(audio)
            os.replace(tmp_name, self.path(key))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        self._prune()
        return self.path(key)

    def _prune(self) -> None:
        entries = sorted(self.directory.glob("*.mp3"), key=lambda p: p.stat().st_mtime)
        for stale in entries[: max(0, len(entries) - self.max_entries)]:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


class SpeechSynthesizer:
    def __init__(
        self,
        *,
        api_key: str,
        voice_id: str,
        model_id: str,
        base_url: str,
        timeout: float,
        cache: SpeechCache,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._telemetry = telemetry
        self._voice_id = voice_id
        self._model_id = model_id
        self._cache = cache
        self._http = httpx.AsyncClient(timeout=timeout)
        # Everything explicit: the SDK would otherwise read ELEVENLABS_API_KEY by itself.
        self._client = AsyncElevenLabs(
            api_key=api_key, base_url=base_url, timeout=timeout, httpx_client=self._http
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def speak(self, text: str) -> Path:
        """The MP3 of `text` spoken, from the cache or from ElevenLabs; `SpeechError` if not."""
        key = self._cache.key(self._voice_id, self._model_id, text)
        cached = await asyncio.to_thread(self._cache.get, key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        try:
            audio = await self._synthesize(text)
        except SpeechError as error:
            self._telemetry.speech_call(time.perf_counter() - started, error.kind)
            raise
        self._telemetry.speech_call(time.perf_counter() - started, None)
        return await asyncio.to_thread(self._cache.put, key, audio)

    async def check_voice(self) -> str:
        """The configured voice's name, if the key is valid and the voice exists (for
        `python -m app check`); `SpeechError` if not. Costs no characters of the quota."""
        try:
            voice = await self._client.voices.get(self._voice_id)
        except ApiError as error:
            if error.status_code == 404:
                raise SpeechError("voice_not_found", "404") from error
            raise classify_api_error(error) from error
        except httpx.TimeoutException as error:
            raise SpeechError("timeout") from error
        except httpx.HTTPError as error:
            raise SpeechError("unavailable", type(error).__name__) from error
        return str(voice.name or voice.voice_id)

    async def _synthesize(self, text: str) -> bytes:
        chunks: list[bytes] = []
        try:
            stream = self._client.text_to_speech.convert(
                self._voice_id, text=text, model_id=self._model_id, output_format=OUTPUT_FORMAT
            )
            async for chunk in stream:
                chunks.append(chunk)
        except ApiError as error:
            raise classify_api_error(error) from error
        except httpx.TimeoutException as error:
            raise SpeechError("timeout") from error
        except httpx.HTTPError as error:
            raise SpeechError("unavailable", type(error).__name__) from error
        if not chunks:
            raise SpeechError("unavailable", "empty audio")
        return b"".join(chunks)
