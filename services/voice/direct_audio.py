"""Direct links to audio files (`https://host/song.mp3`): read without yt-dlp.

yt-dlp's generic extractor would fetch any URL it is given, loopback and redirects to it
included, so a direct link is read here instead, and every step is checked, in this order:

1. the scheme is http or https;
2. the host's addresses are all public (private, loopback and shared addresses only with
   `allow_private_network`; multicast, link-local and unspecified ones never);
3. a GET, read up to its headers only, redirects not followed by the HTTP client: each
   `Location` goes back to step 1, at most `MAX_REDIRECTS` times;
4. the answer is 2xx, its content type audio (`audio/*`, `application/ogg`, or a generic
   binary type when an audio extension ends the path; a link without one, to a media
   server, must be answered as audio), its `Content-Length` (if any) at most `max_bytes`;
5. FFmpeg (the one that plays it, with the same protocol whitelist, following no redirect
   where it can be told so) opens the final URL and reports an audio stream, its length and
   its tags; a known length over `max_seconds` is refused, an unknown one (a radio stream)
   is played up to `max_seconds` (FFmpeg's `-t`);
6. the title is the tags' (artist and title), a radio's name, or the file name.

What the queue keeps is the member's link; all of this runs again before it plays.
Not defended against: a DNS server that changes its answer between the check and FFmpeg's
own connection (DNS rebinding), as for the streams yt-dlp finds.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import re
import socket
import subprocess
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from services.voice.music_types import MusicRefused, ResolvedTrack

log = logging.getLogger(__name__)

# What makes a link a direct link: the last segment of its path (the query is not looked at).
AUDIO_EXTENSIONS = (".mp3", ".ogg", ".opus", ".m4a", ".flac", ".wav")
# FFmpeg may only speak these protocols to fetch a stream: no file://, no concat, no data:.
STREAM_PROTOCOLS = "http,https,tls,tcp,crypto"
MAX_FILE_BYTES = 200_000_000
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
# With an extension saying "audio", a server that only knows "some bytes" is believed (FFmpeg
# checks the bytes anyway); a page, an image or JSON is not.
_BINARY_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
_AUDIO_TYPES = {"application/ogg"}  # besides audio/*
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier NAT, Tailscale
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TITLE_LENGTH = 200

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str], Awaitable[Collection[IPAddress]]]


def is_direct_audio_path(path: str) -> bool:
    """True when a URL's path names an audio file by its extension."""
    return unquote(path).lower().endswith(AUDIO_EXTENSIONS)


def address_allowed(address: IPAddress, *, private_network: bool) -> bool:
    """Whether the bot may fetch audio from `address`: public ones always; private, loopback
    and shared (carrier NAT) ones only when the operator allows its private network;
    multicast, link-local (cloud metadata services live there), unspecified and reserved
    ones never."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if address.is_multicast or address.is_unspecified or address.is_link_local:
        return False
    if address.is_loopback:
        return private_network
    if address.is_reserved:
        return False
    if address.is_global:
        return True
    return private_network and (address.is_private or address in _SHARED_ADDRESS_SPACE)


def addresses_allowed(addresses: Collection[IPAddress], *, private_network: bool) -> bool:
    return bool(addresses) and all(
        address_allowed(address, private_network=private_network) for address in addresses
    )


def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # fe80::1%eth0: no zone


def lookup_blocking(host: str) -> list[IPAddress]:
    """Every address `host` resolves to; empty when it does not resolve (blocking: DNS)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        return []
    return [_address(str(info[4][0])) for info in infos]


async def system_lookup(host: str) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        return []
    return [_address(str(info[4][0])) for info in infos]


@functools.cache
def ffmpeg_http_options(ffmpeg: str) -> frozenset[str]:
    """The options this FFmpeg's http protocol knows. `-max_redirects` is fairly new (older
    releases lack it), and FFmpeg refuses to open an input with an option it does not know."""
    try:
        result = subprocess.run(
            [ffmpeg, "-hide_banner", "-h", "protocol=http"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(re.findall(r"^\s+-(\w+)\s", result.stdout, re.MULTILINE))


def no_redirect_options(ffmpeg: str) -> list[str]:
    """FFmpeg's input options that make it follow no redirect, if it knows how."""
    return ["-max_redirects", "0"] if "max_redirects" in ffmpeg_http_options(ffmpeg) else []


@dataclass(frozen=True, slots=True)
class Probe:
    """What FFmpeg says about an input it opened."""

    duration_seconds: int | None
    tags: dict[str, str]  # lower-cased keys; the first value of each (container, then stream)


_DURATION = re.compile(r"^\s+Duration: (?:(\d+):(\d{2}):(\d{2}(?:\.\d+)?)|N/A)", re.MULTILINE)
_AUDIO_STREAM = re.compile(r"^\s+Stream #\d+:\d+.*?: Audio: ", re.MULTILINE)
_TAG = re.compile(r"^(\s+)(\S[^:]*?)\s*: (.*)$")


def parse_probe(output: str) -> Probe:
    """FFmpeg's `-i` report (its stderr); `MusicRefused` when it opened no audio."""
    duration = _DURATION.search(output)
    if duration is None:
        if "Invalid data found" in output or "Failed to find" in output:
            raise MusicRefused("not_audio", "FFmpeg found no audio in it")
        if "timed out" in output.lower():
            raise MusicRefused("timeout", "FFmpeg timed out")
        raise MusicRefused("unplayable", _last_line(output))
    if _AUDIO_STREAM.search(output) is None:
        raise MusicRefused("not_audio", "no audio stream")
    seconds = None
    if duration.group(1) is not None:
        hours, minutes, rest = duration.groups()
        seconds = round(int(hours) * 3600 + int(minutes) * 60 + float(rest))
    return Probe(duration_seconds=seconds, tags=_tags(output))


def _tags(output: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    block_indent: int | None = None  # inside a "Metadata:" block, its indentation
    for line in output.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() == "Metadata:":
            block_indent = indent
            continue
        if block_indent is None or indent <= block_indent:
            block_indent = None
            continue
        match = _TAG.match(line)
        if match is not None and match.group(2).strip():
            tags.setdefault(match.group(2).strip().lower(), match.group(3).strip())
    return tags


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "FFmpeg said nothing"


def _clean(text: str) -> str:
    """One line of printable text, cut to a title's length."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:_TITLE_LENGTH]


def title_for(url: str, tags: dict[str, str]) -> str:
    """The artist and title from the tags, else a radio's name, else the file name."""
    title, artist = _clean(tags.get("title", "")), _clean(tags.get("artist", ""))
    if title and artist:
        return f"{artist} – {title}"[:_TITLE_LENGTH]
    if title:
        return title
    if station := _clean(tags.get("icy-name", "")):
        return station
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return _clean(PurePosixPath(name).stem or name) or url


def _joined(url: str, location: str) -> str:
    """Where a redirect leads (a relative `Location` is relative to `url`)."""
    try:
        return urljoin(url, location)
    except ValueError as error:
        raise MusicRefused("link_not_allowed", f"redirect to {location!r}: {error}") from error


class DirectAudio:
    """Resolves a direct link to an audio file into a track to play (see the module's
    docstring for the checks and their order)."""

    def __init__(
        self,
        *,
        ffmpeg: str,
        max_seconds: int,
        max_bytes: int = MAX_FILE_BYTES,
        allow_private_network: bool = False,
        timeout: float = 10.0,
        lookup: Lookup = system_lookup,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._ffmpeg = ffmpeg
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self._private_network = allow_private_network
        self._timeout = timeout
        # Each step gives up on a silent source after `timeout`; the whole, after three times.
        self._overall_timeout = 3 * timeout
        self._lookup = lookup  # a test seam, as `transport` is
        self._transport = transport

    async def resolve(self, url: str) -> ResolvedTrack:
        try:
            async with asyncio.timeout(self._overall_timeout):
                stream_url = await self._follow(url)
                probe = await self._probe(stream_url)
        except TimeoutError:
            raise MusicRefused("timeout", url) from None
        if probe.duration_seconds is not None and probe.duration_seconds > self.max_seconds:
            raise MusicRefused("too_long", f"{probe.duration_seconds} s")
        return ResolvedTrack(
            title=title_for(url, probe.tags),
            page_url=url,
            duration_seconds=probe.duration_seconds,
            stream_url=stream_url,
            http_headers={},
            follow_redirects=False,
        )

    async def _check_location(self, url: str) -> str:
        """The URL (its scheme in lower case, as FFmpeg wants it), if it may be fetched."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a port out of range)
        except ValueError as error:
            raise MusicRefused("link_not_allowed", f"{url!r}: {error}") from error
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise MusicRefused("link_not_allowed", f"scheme {parts.scheme!r}")
        addresses = await self._lookup(parts.hostname)
        if not addresses:
            raise MusicRefused("unplayable", f"host {parts.hostname!r} does not resolve")
        if not addresses_allowed(addresses, private_network=self._private_network):
            raise MusicRefused("private_network", f"host {parts.hostname!r}: {addresses}")
        return parts._replace(scheme=parts.scheme.lower()).geturl()

    async def _follow(self, url: str) -> str:
        """The URL the link's redirects end on, each hop checked; its answer checked too."""
        named_audio = is_direct_audio_path(urlsplit(url).path)
        async with httpx.AsyncClient(
            follow_redirects=False,
            timeout=self._timeout,
            trust_env=False,  # no proxy from the environment: the checks are about the host
            transport=self._transport,
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                url = await self._check_location(url)
                try:
                    async with client.stream("GET", url) as response:
                        location = response.headers.get("location")
                        if response.status_code in _REDIRECTS and location:
                            url = _joined(url, location)
                            continue
                        self._check_answer(url, response, named_audio=named_audio)
                        return url
                except httpx.TimeoutException as error:
                    raise MusicRefused("timeout", f"{url}: {error!r}") from error
                except (httpx.HTTPError, httpx.InvalidURL) as error:
                    raise MusicRefused("unplayable", f"{url}: {error!r}") from error
        raise MusicRefused("unplayable", f"more than {MAX_REDIRECTS} redirects")

    def _check_answer(self, url: str, response: httpx.Response, *, named_audio: bool) -> None:
        """`named_audio`: the member's link ends in an audio extension, so an answer that is
        only "some bytes" is believed (FFmpeg checks them anyway)."""
        if not response.is_success:
            raise MusicRefused("unplayable", f"{url}: HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        believed = _AUDIO_TYPES | (_BINARY_TYPES if named_audio else set())
        if not content_type.startswith("audio/") and content_type not in believed:
            raise MusicRefused("not_audio", f"{url}: {content_type}")
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise MusicRefused("too_large", f"{url}: {length} bytes")

    async def _probe(self, url: str) -> Probe:
        """FFmpeg opens the stream as it will to play it, and says what it found."""
        no_redirects = await asyncio.to_thread(no_redirect_options, self._ffmpeg)
        command = [
            self._ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-protocol_whitelist",
            STREAM_PROTOCOLS,
            "-rw_timeout",
            str(int(self._timeout * 1_000_000)),  # microseconds of silence, then give up
            *no_redirects,
            "-i",
            url,
        ]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await process.communicate()  # FFmpeg exits 1: no output file was named
        finally:
            if process.returncode is None:  # timed out (cancelled): FFmpeg goes too
                process.kill()
                await process.wait()
        return parse_probe(err.decode(errors="replace"))
