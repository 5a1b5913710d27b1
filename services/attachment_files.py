"""The one module that reads members' attached files: images for the model, and text files.

What the bot fetches is only ever an attachment's own link, the one Discord gave with the
message (`StoredAttachment.url`), never a link from a message's text or an embed, and only
from Discord's CDN (`cdn.discordapp.com`, `media.discordapp.net`, over https) or from the host
of `DISCORD_API_BASE` when the operator points the bot at another server (a proxy, a test
double). Every download is bounded twice: by the size Discord declared, before any request,
and while the bytes stream in. Redirects are not followed.

An image is decoded, reduced to its first frame (an animated GIF), turned upright (a photo's
EXIF orientation), downscaled to at most `LONG_SIDE` pixels on its long side and re-encoded
(PNG when it has transparency, else JPEG), off the event loop; the model gets it inline as a
data URL, so Azure never fetches anything. A text file is read up to what its quote can hold
and decoded as UTF-8 with replacement.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from services.store import StoredAttachment

log = logging.getLogger(__name__)

DISCORD_CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
MAX_IMAGE_BYTES = 10 * 1024 * 1024
LONG_SIDE = 1024
# Past this many pixels an image is a decompression bomb, not a photo (a 10 MB PNG of one
# colour can claim 100,000 x 100,000); refused before its pixels are decoded.
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 85
DRAFT_REACH = 0.95  # of LONG_SIDE, the least a JPEG's reduced-scale decode may give
TEXT_FILE_CHARACTERS = 8_000
# UTF-8 takes at most 4 bytes a character: reading more could not make the quote longer.
_TEXT_FILE_BYTES = 4 * TEXT_FILE_CHARACTERS
DOWNLOAD_SECONDS = 10.0

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
_IMAGE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
TEXT_EXTENSIONS = frozenset(
    {
        # documents and data
        ".txt", ".md", ".log", ".csv", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg",
        ".xml", ".sql",
        # source code
        ".py", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".c", ".h", ".cpp",
        ".hpp", ".cc", ".cs", ".go", ".rs", ".rb", ".php", ".swift", ".lua", ".sh", ".ps1",
        ".html", ".css", ".scss", ".vue", ".dart", ".r", ".scala", ".pl", ".ex", ".exs",
    }
)  # fmt: skip


class AttachmentRefused(Exception):
    """An attachment the bot did not read; `reason` says why, for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PreparedImage:
    """An image as the model gets it: a data URL of the downscaled, re-encoded picture."""

    media_type: str  # image/png or image/jpeg
    width: int
    height: int
    data: bytes

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def _extension(filename: str) -> str:
    return PurePosixPath(filename.lower()).suffix


def is_image(attachment: StoredAttachment) -> bool:
    """PNG, JPEG, WebP or GIF, by the type Discord gave, else by the file name."""
    media_type = (attachment.content_type or "").split(";", 1)[0].strip().lower()
    if media_type:
        return media_type in IMAGE_TYPES
    return _extension(attachment.filename) in IMAGE_EXTENSIONS


def is_text_file(attachment: StoredAttachment) -> bool:
    """A text file the bot quotes: by its extension (Discord types many as text/plain, and
    source code as anything)."""
    return _extension(attachment.filename) in TEXT_EXTENSIONS


def prepare_image(data: bytes, *, long_side: int = LONG_SIDE) -> PreparedImage:
    """Decode, first frame, upright, downscale, re-encode (blocking: CPU). Raises
    `AttachmentRefused` for what is not a PNG, JPEG, WebP or GIF, or is too large to decode."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.format not in _IMAGE_FORMATS:
                raise AttachmentRefused(f"not an image the model reads ({opened.format})")
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise AttachmentRefused(f"{width}x{height} pixels is too many to decode")
            opened.seek(0)  # an animated GIF: its first frame
            if opened.format == "JPEG":
                # Decode at a reduced scale (1/2, 1/4, 1/8: JPEG's own, nearly free) whose long
                # side still reaches 95% of the target: a 4032 px phone photo then decodes at
                # 1008 px, with a quarter of the work of decoding it at 2016 px to shrink it.
                reach = DRAFT_REACH * long_side / max(width, height)
                opened.draft("RGB", (max(1, round(width * reach)), max(1, round(height * reach))))
            image = ImageOps.exif_transpose(opened)
            transparent = image.mode in {"RGBA", "LA", "PA"} or (
                image.mode == "P" and "transparency" in image.info
            )
            image = image.convert("RGBA" if transparent else "RGB")
            image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            if transparent:
                image.save(out, "PNG")
                media_type = "image/png"
            else:
                image.save(out, "JPEG", quality=JPEG_QUALITY)
                media_type = "image/jpeg"
            return PreparedImage(media_type, image.width, image.height, out.getvalue())
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise AttachmentRefused("not a readable image") from None
    except (OSError, ValueError, SyntaxError) as error:  # a truncated or damaged file
        raise AttachmentRefused(f"damaged image: {error}") from None


def decode_text(data: bytes, *, limit: int = TEXT_FILE_CHARACTERS) -> str:
    """UTF-8 with replacement, cut at `limit` characters (an ellipsis says it was cut)."""
    text = data.decode("utf-8", errors="replace")
    return text[:limit] + "…" if len(text) > limit else text


def allowed_hosts_for(discord_api_base: str | None) -> frozenset[str]:
    """Discord's CDN, plus the host (and port) of a REST server the operator set instead of
    Discord's."""
    if not discord_api_base:
        return DISCORD_CDN_HOSTS
    netloc = urlsplit(discord_api_base).netloc.lower()
    return DISCORD_CDN_HOSTS | {netloc} if netloc else DISCORD_CDN_HOSTS


class AttachmentFiles:
    """Downloads attachments from the allowed hosts and prepares them; one HTTP client."""

    def __init__(
        self,
        *,
        allowed_hosts: Collection[str] = DISCORD_CDN_HOSTS,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        timeout: float = DOWNLOAD_SECONDS,
    ) -> None:
        self._hosts = frozenset(host.lower() for host in allowed_hosts)
        self._max_image_bytes = max_image_bytes
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers={"User-Agent": "discord-azure-bot"}
        )

    async def close(self) -> None:
        await self._client.aclose()

    def may_fetch(self, url: str) -> bool:
        """Discord's CDN over https; the operator's own Discord host over http or https."""
        parts = urlsplit(url)
        netloc = parts.netloc.lower()
        if netloc in DISCORD_CDN_HOSTS and netloc in self._hosts:
            return parts.scheme == "https"
        return netloc in self._hosts and parts.scheme in {"http", "https"}

    async def image(self, attachment: StoredAttachment) -> PreparedImage:
        """The attachment as the model gets it; raises `AttachmentRefused`."""
        data = await self.download_image(attachment)
        # Decoding and resizing a photo takes tens of milliseconds of CPU: not on the loop.
        return await asyncio.to_thread(prepare_image, data)

    async def download_image(self, attachment: StoredAttachment) -> bytes:
        """The image's bytes as Discord serves them, at most `max_image_bytes`."""
        if attachment.size > self._max_image_bytes:
            raise AttachmentRefused(
                f"{attachment.size} bytes is over {self._max_image_bytes}: not downloaded"
            )
        return await self._download(attachment.url, self._max_image_bytes, cut=False)

    async def text(self, attachment: StoredAttachment) -> str:
        """The file's text, at most `TEXT_FILE_CHARACTERS`; raises `AttachmentRefused`."""
        data = await self._download(attachment.url, _TEXT_FILE_BYTES, cut=True)
        return decode_text(data)

    async def _download(self, url: str, limit: int, *, cut: bool) -> bytes:
        """At most `limit` bytes of `url`: past it, the beginning (`cut`) or a refusal."""
        if not self.may_fetch(url):
            raise AttachmentRefused(f"not a Discord attachment link: {urlsplit(url).netloc}")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._read(url, limit, cut=cut)
        except TimeoutError:
            raise AttachmentRefused("download timed out") from None
        except httpx.HTTPError as error:
            raise AttachmentRefused(f"download failed: {type(error).__name__}") from None

    async def _read(self, url: str, limit: int, *, cut: bool) -> bytes:
        async with self._client.stream("GET", url) as response:
            if response.status_code != httpx.codes.OK:
                raise AttachmentRefused(f"download answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if not cut and declared.isdigit() and int(declared) > limit:
                raise AttachmentRefused(f"{declared} bytes is over {limit}: not downloaded")
            received = bytearray()
            async for chunk in response.aiter_bytes():
                received.extend(chunk)
                if len(received) > limit:
                    if cut:
                        return bytes(received[:limit])
                    raise AttachmentRefused(f"more than {limit} bytes: download stopped")
            return bytes(received)
