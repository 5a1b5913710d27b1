"""A loopback fake of ElevenLabs text to speech, for the real SDK.

`POST /v1/text-to-speech/{voice_id}` with the `xi-api-key` header and a JSON body
`{"text", "model_id"}` answers real MP3 audio, or the failure a test asked for: a bad key and an
exhausted quota (both 401, told apart by `detail.status`, as ElevenLabs does), 429, 500, or a
request that never gets an answer. `GET /v1/voices/{voice_id}` (what `python -m app check`
asks) answers the voice, a 404 for another one, or the same 401s.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from tests.fakes.loopback import serve_on_loopback

Failure = Literal["invalid_api_key", "quota_exceeded", "rate_limited", "server_error", "hang"]

_FAILURES: dict[str, tuple[int, dict[str, Any]]] = {
    "invalid_api_key": (
        401,
        {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
    ),
    "quota_exceeded": (
        401,
        {
            "detail": {
                "status": "quota_exceeded",
                "message": "This request exceeds your quota of 10000.",
            }
        },
    ),
    "rate_limited": (
        429,
        {"detail": {"status": "too_many_concurrent_requests", "message": "Too many requests"}},
    ),
    "server_error": (500, {"detail": {"status": "internal_error", "message": "Server error"}}),
}


@dataclass
class SpeechRequest:
    voice_id: str
    text: str
    model_id: str | None
    output_format: str | None


class FakeElevenLabs:
    def __init__(self, *, api_key: str, voice_id: str, audio: Path) -> None:
        self.api_key = api_key
        self.voice_id = voice_id
        self.audio = audio
        self.requests: list[SpeechRequest] = []
        self.failure: Failure | None = None
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/text-to-speech/{voice_id}", self._speak)
        app.router.add_get("/v1/voices/{voice_id}", self._voice)
        self._runner, self.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        self.requests.clear()
        self.failure = None
        self._release.set()  # let a hanging request go
        self._release = asyncio.Event()

    def _error(self, status: int, body: dict[str, Any]) -> web.Response:
        return web.Response(
            status=status, body=json.dumps(body).encode(), content_type="application/json"
        )

    async def _speak(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("xi-api-key") != self.api_key:
            return self._error(*_FAILURES["invalid_api_key"])
        body = await request.json()
        self.requests.append(
            SpeechRequest(
                voice_id=request.match_info["voice_id"],
                text=body["text"],
                model_id=body.get("model_id"),
                output_format=request.query.get("output_format"),
            )
        )
        if request.match_info["voice_id"] != self.voice_id:
            return self._error(404, {"detail": {"status": "voice_not_found", "message": "?"}})
        if self.failure == "hang":
            await self._release.wait()
            return self._error(*_FAILURES["server_error"])
        if self.failure is not None:
            return self._error(*_FAILURES[self.failure])
        return web.Response(body=self.audio.read_bytes(), content_type="audio/mpeg")

    async def _voice(self, request: web.Request) -> web.Response:
        if request.headers.get("xi-api-key") != self.api_key:
            return self._error(*_FAILURES["invalid_api_key"])
        if self.failure in ("quota_exceeded", "server_error"):
            return self._error(*_FAILURES[self.failure])
        voice_id = request.match_info["voice_id"]
        if voice_id != self.voice_id:
            return self._error(
                404,
                {"detail": {"status": "voice_not_found", "message": f"voice {voice_id} not found"}},
            )
        body = {"voice_id": voice_id, "name": "Aria (fake)", "category": "premade"}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")
