"""The HTTP front door: every REST request is parsed, recorded, then answered by an injected
failure, a 404, a 401, or its route (the gateway websocket passes straight through)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.discord.faults import Faults
from tests.fakes.discord.model import Model
from tests.fakes.discord.protocol import API_PREFIX, CDN_PREFIX, JSON, error
from tests.fakes.discord.waits import Notifier

# The parsed request, for the route handlers: the JSON body (or payload_json) and the files.
BODY: web.RequestKey[Any] = web.RequestKey("fake_discord_body")
FILES: web.RequestKey[list[JSON]] = web.RequestKey("fake_discord_files")


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix, e.g. "/channels/1/messages"
    json: Any
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    files: list[JSON] = field(default_factory=list)


class Front:
    def __init__(self, model: Model, notifier: Notifier, faults: Faults) -> None:
        self._model = model
        self._notifier = notifier
        self._faults = faults
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []

    def reset(self) -> None:
        self.requests.clear()
        self.unhandled.clear()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path == "/gateway":
            result: web.StreamResponse = await handler(request)
            return result
        path = request.path
        api_path = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        body, files = await read_body(request)
        request[BODY] = body
        request[FILES] = files
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=api_path,
                json=body,
                headers=dict(request.headers),
                query=dict(request.query),
                files=files,
            )
        )
        self._notifier.notify()
        await self._faults.wait_if_held(request.method, api_path)
        injected = self._faults.take(request.method, api_path)
        if injected is not None:
            return injected
        if path.startswith(CDN_PREFIX + "/") and request.match_info.http_exception is None:
            cdn: web.StreamResponse = await handler(request)  # the CDN takes no token
            return cdn
        if request.match_info.http_exception is not None or not path.startswith(API_PREFIX):
            self.unhandled.append(f"{request.method} {api_path}")
            self._notifier.notify()
            return error(404, 0, "404: Not Found")
        unauthenticated = (
            api_path.startswith("/webhooks/")
            or api_path.startswith("/interactions/")
            or api_path == "/gateway"
        )
        if (
            not unauthenticated
            and request.headers.get("Authorization") != f"Bot {self._model.token}"
        ):
            return error(401, 0, "401: Unauthorized")
        result = await handler(request)
        return result


async def read_body(request: web.Request) -> tuple[Any, list[JSON]]:
    """The JSON body (``payload_json`` of a multipart one, with its files), or the raw text."""
    if not request.body_exists:
        return None, []
    ctype = request.content_type
    if ctype == "multipart/form-data":
        reader = await request.multipart()
        body: Any = None
        files: list[JSON] = []
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            raw = await part.read()
            if part.name == "payload_json":
                body = json.loads(raw)
            else:
                files.append(
                    {
                        "name": part.name,
                        "filename": part.filename,
                        "content_type": part.headers.get("Content-Type"),
                        "data": bytes(raw),
                    }
                )
        return body, files
    raw_text = await request.text()
    if not raw_text:
        return None, []
    try:
        return json.loads(raw_text), []
    except json.JSONDecodeError:
        return raw_text, []
