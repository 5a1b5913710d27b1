"""What `/play` may play, and how it is found (yt-dlp itself runs in worker processes:
`services/voice/yt_dlp_pool.py` and `services/voice/yt_dlp_worker.py`, the only module that
touches it).

The safety recipe: the member's text is classified here, not by yt-dlp. A direct link to an
audio file (http(s), on any host, its path ending in an audio extension), or any http(s) link
to one of the operator's media servers (`media_hosts`: a Subsonic `/rest/stream?id=...` has no
extension), is read by `services/voice/direct_audio.py`, without yt-dlp; an http(s) link to an
allowed host is played as a link; any other link is refused; words are a `ytsearch1:` search.
yt-dlp runs with a chosen set of extractors (never the generic one in production, which
fetches any page), takes one item only (never a whole playlist page), and what it returns is
checked again by `judge`, in the worker: not live, not too long, the page it ended on (after
redirects) still on an allowed host, the stream over http(s) to a public address (or a
private one, with `allow_private_network`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from services.voice.direct_audio import (
    MAX_FILE_BYTES,
    DirectAudio,
    addresses_allowed,
    is_direct_audio_path,
    lookup_blocking,
)
from services.voice.music_types import MusicRefused, MusicRequest, RefusalReason, ResolvedTrack
from services.voice.yt_dlp_pool import WorkerConfig, YtDlpPool

# The shared types are re-exported: the rest of the code imports them from here.
__all__ = [
    "SEARCH_PREFIX",
    "MusicRefused",
    "MusicRequest",
    "MusicResolver",
    "RefusalReason",
    "ResolvedTrack",
    "classify",
    "judge",
]

SEARCH_PREFIX = "ytsearch1:"
# yt-dlp resolutions at once (each in a worker process of ~55 MB); more wait their turn.
YT_DLP_WORKERS = 2

# Only "scheme://..." is a link: "mood:happy" or "ytsearch50:x" are words to search for.
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# "youtube.com/watch?v=..." typed without a scheme is a link too.
_BARE_HOST = re.compile(r"^[\w-]+(\.[\w-]+)*\.[a-zA-Z]{2,}(:\d+)?(/\S*)?$")
_LIVE_STATES = {"is_live", "is_upcoming"}


def _host_allowed(host: str | None, allowed_hosts: Collection[str]) -> bool:
    return host is not None and host.lower().rstrip(".") in allowed_hosts


def classify(
    query: str, allowed_hosts: Collection[str], media_hosts: Collection[str] = ()
) -> MusicRequest:
    """A direct link to an audio file (or to one of the `media_hosts`), a link to play, or a
    search; raises `MusicRefused` for a link that is none of these. Nothing is fetched here."""
    text = query.strip()
    looks_like_link = " " not in text and (_SCHEME.match(text) or _BARE_HOST.match(text))
    if not looks_like_link:
        return MusicRequest(SEARCH_PREFIX + text)
    url = text if _SCHEME.match(text) else "https://" + text
    try:
        parts = urlsplit(url)
    except ValueError as error:  # "http://[not-an-address/": no host to speak of
        raise MusicRefused("link_not_allowed", str(error)) from error
    if parts.scheme.lower() not in ("http", "https"):
        raise MusicRefused("link_not_allowed", f"scheme {parts.scheme!r}")
    if parts.hostname and (
        is_direct_audio_path(parts.path) or _host_allowed(parts.hostname, media_hosts)
    ):
        # direct_audio checks where it leads and what answers. FFmpeg knows its protocols by
        # their lower-case names only.
        return MusicRequest(parts._replace(scheme=parts.scheme.lower()).geturl(), direct=True)
    if not _host_allowed(parts.hostname, allowed_hosts):
        raise MusicRefused("link_not_allowed", f"host {parts.hostname!r}")
    return MusicRequest(url)


def judge(
    info: Mapping[str, Any],
    *,
    allowed_hosts: Collection[str],
    max_seconds: int,
    allow_private_network: bool,
) -> ResolvedTrack:
    """Check one extracted item against the rules; the track to play, or `MusicRefused`."""
    if info.get("is_live") or info.get("live_status") in _LIVE_STATES:
        raise MusicRefused("live")
    duration = info.get("duration")
    duration_seconds = round(duration) if isinstance(duration, int | float) else None
    if duration_seconds is not None and duration_seconds > max_seconds:
        raise MusicRefused("too_long", f"{duration_seconds} s")
    page_url = str(info.get("webpage_url") or info.get("original_url") or "")
    # A redirect may have taken yt-dlp to another host than the one the member named.
    if not _host_allowed(urlsplit(page_url).hostname, allowed_hosts):
        raise MusicRefused("link_not_allowed", f"ended on {page_url!r}")
    stream_url = info.get("url")
    if not isinstance(stream_url, str):
        raise MusicRefused("unplayable", "no stream URL")
    stream = urlsplit(stream_url)
    if stream.scheme not in ("http", "https") or not stream.hostname:
        raise MusicRefused("unplayable", f"stream scheme {stream.scheme!r}")
    addresses = lookup_blocking(stream.hostname)
    if not addresses_allowed(addresses, private_network=allow_private_network):
        raise MusicRefused("unplayable", f"stream host {stream.hostname!r} is not public")
    headers = info.get("http_headers") or {}
    return ResolvedTrack(
        title=str(info.get("title") or page_url),
        page_url=page_url,
        duration_seconds=duration_seconds,
        stream_url=stream_url,
        http_headers={str(k): str(v) for k, v in headers.items()},
    )


class MusicResolver:
    """Finds what `/play` names: direct links with `DirectAudio`, the rest with yt-dlp in
    the resolver's own worker processes (`YtDlpPool`: `workers` at once, each resolution cut
    off after three times `timeout`, its worker killed). `close` stops them."""

    def __init__(
        self,
        *,
        allowed_hosts: Collection[str],
        max_seconds: int,
        media_hosts: Collection[str] = (),
        allow_private_network: bool = False,
        allow_generic_extractor: bool = False,
        ffmpeg: str = "ffmpeg",
        max_file_bytes: int = MAX_FILE_BYTES,
        timeout: float = 10.0,
        warm: bool = True,
        workers: int = YT_DLP_WORKERS,
    ) -> None:
        self._warm = warm  # False (`sync`, `check`): nothing will be played, skip the warm-up
        self.allowed_hosts = frozenset(allowed_hosts)
        self.media_hosts = frozenset(media_hosts)
        self.max_seconds = max_seconds
        self.max_file_bytes = max_file_bytes
        self._direct = DirectAudio(
            ffmpeg=ffmpeg,
            max_seconds=max_seconds,
            max_bytes=max_file_bytes,
            allow_private_network=allow_private_network,
            timeout=timeout,
        )
        # yt-dlp gives up on a silent socket after `timeout`; a source that trickles forever
        # is cut off by the overall limit, its worker killed.
        self.yt_dlp = YtDlpPool(
            WorkerConfig(
                allowed_hosts=tuple(sorted(self.allowed_hosts)),
                max_seconds=max_seconds,
                allow_private_network=allow_private_network,
                allow_generic_extractor=allow_generic_extractor,
                socket_timeout=timeout,
            ),
            timeout=3 * timeout,
            workers=workers,
        )

    def classify(self, query: str) -> MusicRequest:
        return classify(query, self.allowed_hosts, self.media_hosts)

    async def warm_up(self) -> None:
        """Start a yt-dlp worker at start rather than on the first /play: it loads yt-dlp's
        extractors (~0.4 s) in its own process."""
        if self._warm:
            await self.yt_dlp.warm_up()

    async def resolve(self, request: MusicRequest) -> ResolvedTrack:
        """Find the one item `request` names: a direct link without yt-dlp, anything else
        with yt-dlp, in a worker process."""
        if request.direct:
            return await self._direct.resolve(request.target)
        return await self.yt_dlp.resolve(request.target)

    async def resolve_page(self, page_url: str) -> ResolvedTrack:
        """Resolve a stored queue entry again, just before playing (stream URLs expire)."""
        return await self.resolve(self.classify(page_url))

    async def close(self) -> None:
        await self.yt_dlp.close()
