"""The CDN: attachments' bytes at the link their message payload gives, as Discord serves them
from https://cdn.discordapp.com (no token; an unknown file is a plain 404). Every fetch is
recorded by the front door like any request (its path begins with ``/attachments/``)."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.discord.model import Model
from tests.fakes.discord.protocol import CDN_PREFIX


class Cdn:
    def __init__(self, model: Model) -> None:
        self._model = model

    def add_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get(CDN_PREFIX + "/{aid}/{filename}", self._get)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        try:
            found = self._model.attachment_files.get(int(request.match_info["aid"]))
        except ValueError:
            found = None
        if found is None:
            return web.Response(status=404, text="Not Found")
        data, content_type = found
        return web.Response(
            body=data, headers={"Content-Type": content_type or "application/octet-stream"}
        )
