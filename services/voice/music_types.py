"""What `/play`'s two resolvers share: the request, the track found, the refusal.

`services/voice/music_source.py` (yt-dlp, and the router) and
`services/voice/direct_audio.py` (direct links to audio files) both speak these; `music_source`
re-exports them, so the rest of the code keeps importing them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

RefusalReason = Literal[
    "link_not_allowed",
    "no_result",
    "live",
    "too_long",
    "unplayable",
    "timeout",
    "private_network",  # the link (or a redirect) leads to a private or loopback address
    "not_audio",  # a direct link that answers something other than audio
    "too_large",  # a direct link to a file larger than the resolver's limit
    "busy",  # every yt-dlp worker stayed taken while the request waited its turn
]


class MusicRefused(Exception):
    """A request that will not be played; `reason` picks the sentence the member reads."""

    def __init__(self, reason: RefusalReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class MusicRequest:
    target: str  # a URL, or "ytsearch1:<words>"
    direct: bool = False  # a direct link to an audio file: read without yt-dlp


@dataclass(frozen=True, slots=True)
class ResolvedTrack:
    title: str
    page_url: str  # what the queue keeps
    duration_seconds: int | None
    stream_url: str  # expires: used at once, never stored
    http_headers: Mapping[str, str]
    # False: `stream_url` is where redirects, each checked, ended; FFmpeg must follow no
    # other (a server could answer FFmpeg with a redirect it did not give the check).
    follow_redirects: bool = True
