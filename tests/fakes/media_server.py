"""A loopback media server: real audio files over HTTP, for yt-dlp and FFmpeg.

Files are served with `FileResponse` (ranges, content types), pages are HTML with `<audio>`
tags, and redirects lead wherever a test wants, loopback included.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from pathlib import Path

from aiohttp import web

from tests.fakes.loopback import serve_on_loopback

_PATH: web.AppKey[dict[str, Path]] = web.AppKey("media_files", dict[str, Path])


class MediaServer:
    def __init__(self) -> None:
        self.files: dict[str, Path] = {}
        self.content_types: dict[str, str] = {}  # else guessed from the file's name
        self.pages: dict[str, str] = {}
        self.redirects: dict[str, str] = {}
        self.cut_once: dict[str, float] = {}  # name -> share of the file sent before a cut
        self.hanging: set[str] = set()
        self.endless: set[str] = set()
        self.requests: list[str] = []
        self._arrived = asyncio.Condition()
        self.range_requests: list[str] = []
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name:.*}", self._serve)
        self._runner, self.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        self._stopping.set()  # releases the hanging requests
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, name: str, host: str = "localhost") -> str:
        """`localhost` is the allowed host in tests (for pages); `127.0.0.1` is the same
        server under another name. Both are loopback: a private address."""
        return f"http://{host}:{self.port}/{name}"

    def add_file(self, name: str, path: Path, *, content_type: str | None = None) -> str:
        self.files[name] = path
        if content_type is not None:
            self.content_types[name] = content_type
        return self.url(name)

    def add_page(self, name: str, title: str, audio_names: list[str]) -> str:
        tags = "\n".join(f'<audio src="/{html.escape(a)}"></audio>' for a in audio_names)
        self.pages[name] = (
            f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{tags}</body></html>"
        )
        return self.url(name)

    def add_cut_file(self, name: str, path: Path, share: float) -> str:
        """A file whose first download breaks off after `share` of it: the connection is cut
        as if the network failed; later (range) requests are served in full."""
        self.cut_once[name] = share
        return self.add_file(name, path)

    def add_hanging(self, name: str) -> str:
        """A URL that accepts the connection and never answers."""
        self.hanging.add(name)
        return self.url(name)

    def add_endless_page(self, name: str) -> str:
        """A page that starts at once and never ends: a space every 0.1 s, so no socket
        timeout ever fires; only a client that gives up (or is killed) ends it."""
        self.endless.add(name)
        return self.url(name)

    async def wait_for_requests(self, name: str, count: int) -> None:
        """Return once `name` has been asked for `count` times in all."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: self.requests.count(name) >= count)

    def add_redirect(self, name: str, target: str) -> str:
        self.redirects[name] = target
        return self.url(name)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append(name)
        async with self._arrived:
            self._arrived.notify_all()
        if name in self.redirects:  # as given, even a Location that is not a valid URL
            return web.Response(status=302, headers={"Location": self.redirects[name]})
        if "Range" in request.headers:
            self.range_requests.append(name)
        if name in self.hanging:
            await self._stopping.wait()
            raise web.HTTPServiceUnavailable()
        if name in self.endless:
            return await self._serve_endless(request)
        if name in self.cut_once:
            return await self._serve_cut(request, self.files[name], self.cut_once.pop(name))
        if name in self.pages:
            return web.Response(text=self.pages[name], content_type="text/html")
        if name in self.files:
            headers = (
                {"Content-Type": self.content_types[name]} if name in self.content_types else None
            )
            return web.FileResponse(self.files[name], headers=headers)
        raise web.HTTPNotFound()

    async def _serve_endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        await response.write(b"<!doctype html><html><body>")
        with contextlib.suppress(ConnectionResetError):  # the client gave up, or was killed
            while not self._stopping.is_set():
                await response.write(b" ")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 0.1)
        return response

    async def _serve_cut(
        self, request: web.Request, path: Path, share: float
    ) -> web.StreamResponse:
        data = await asyncio.to_thread(path.read_bytes)
        response = web.StreamResponse(
            headers={"Content-Type": "audio/mpeg", "Accept-Ranges": "bytes"}
        )
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: int(len(data) * share)])
        assert request.transport is not None
        request.transport.abort()  # the network fails mid-song: no clean end of the body
        return response
