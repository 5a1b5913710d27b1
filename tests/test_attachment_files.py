"""The attachment adapter (`services/attachment_files.py`): what it downloads, from where, how
much, and the image the model gets; against a loopback HTTP server the test starts."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from PIL import Image

from services.attachment_files import (
    DISCORD_CDN_HOSTS,
    AttachmentFiles,
    AttachmentRefused,
    allowed_hosts_for,
    decode_text,
    is_image,
    is_text_file,
    prepare_image,
)
from services.store import StoredAttachment
from tests.fakes.loopback import serve_on_loopback


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def test_a_photo_is_downscaled_to_at_most_1024_on_its_long_side_as_jpeg() -> None:
    prepared = prepare_image(encoded(Image.new("RGB", (1800, 4000), (10, 200, 30)), "PNG"))
    assert (prepared.media_type, prepared.width, prepared.height) == ("image/jpeg", 461, 1024)
    assert prepared.data_url.startswith("data:image/jpeg;base64,")
    # A JPEG decodes at its own reduced scale when that still gives 95% of 1,024 pixels.
    quarter = prepare_image(encoded(Image.new("RGB", (1800, 4000), (10, 200, 30)), "JPEG"))
    assert (quarter.width, quarter.height) == (450, 1000)
    half = prepare_image(encoded(Image.new("RGB", (3000, 2000), (10, 200, 30)), "JPEG"))
    assert (half.width, half.height) == (1024, 683)


def test_a_small_image_keeps_its_size_and_transparency_keeps_png() -> None:
    prepared = prepare_image(encoded(Image.new("RGBA", (300, 200), (0, 0, 0, 0)), "WEBP"))
    assert (prepared.media_type, prepared.width, prepared.height) == ("image/png", 300, 200)
    with Image.open(io.BytesIO(prepared.data)) as reopened:
        assert reopened.mode == "RGBA"


def test_a_photo_taken_sideways_is_turned_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    data = encoded(Image.new("RGB", (400, 300)), "JPEG", exif=exif.tobytes())
    prepared = prepare_image(data)
    assert (prepared.width, prepared.height) == (300, 400)


@pytest.mark.parametrize(
    "data",
    [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["garbage", "a damaged PNG"],
)
def test_what_is_not_a_readable_image_is_refused(data: bytes) -> None:
    with pytest.raises(AttachmentRefused):
        prepare_image(data)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims `width` x `height` pixels, with next to no data after it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [8_000, 20_000], ids=["64 Mpx", "400 Mpx"])
def test_a_decompression_bomb_is_refused_before_decoding(side: int) -> None:
    with pytest.raises(AttachmentRefused, match=r"too many|not a readable"):
        prepare_image(png_claiming(side, side))


def test_another_format_is_refused() -> None:
    with pytest.raises(AttachmentRefused, match="BMP"):
        prepare_image(encoded(Image.new("RGB", (10, 10)), "BMP"))


def test_text_is_utf8_with_replacement_and_cut() -> None:
    assert decode_text("olá".encode() + b"\xff") == "olá\ufffd"
    assert decode_text(b"abcdef", limit=4) == "abcd…"


def test_which_files_are_images_and_which_are_text() -> None:
    def file(name: str, content_type: str | None) -> StoredAttachment:
        return StoredAttachment(name, content_type)

    assert is_image(file("a.PNG", None)) and is_image(file("x", "image/webp"))
    assert not is_image(file("a.svg", "image/svg+xml")) and not is_image(
        file("a.png", "text/plain")
    )
    assert is_text_file(file("Notes.MD", None)) and is_text_file(file("main.rs", "text/x-rust"))
    assert not is_text_file(file("report.pdf", "application/pdf"))


def test_only_discords_cdn_over_https_and_the_operators_discord_host() -> None:
    files = AttachmentFiles(allowed_hosts=allowed_hosts_for("http://127.0.0.1:8443/api/v10"))
    assert files.may_fetch("https://cdn.discordapp.com/attachments/1/2/a.png?ex=1")
    assert files.may_fetch("https://media.discordapp.net/attachments/1/2/a.png")
    assert files.may_fetch("http://127.0.0.1:8443/attachments/2/a.png")
    assert not files.may_fetch("http://cdn.discordapp.com/attachments/1/2/a.png")
    assert not files.may_fetch("https://cdn.discordapp.com.evil.example/a.png")
    assert not files.may_fetch("http://127.0.0.1:8444/attachments/2/a.png")
    assert not files.may_fetch("file:///etc/passwd")
    assert allowed_hosts_for(None) == DISCORD_CDN_HOSTS


class Host:
    """A loopback host serving files: some with their length, one streamed without it."""

    def __init__(self) -> None:
        self.served: list[str] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.served.append(name)
        if name == "endless.png":  # chunked, no Content-Length: only streaming can tell
            response = web.StreamResponse(headers={"Content-Type": "image/png"})
            await response.prepare(request)
            for _ in range(64):
                await response.write(b"\x00" * 65_536)
            await response.write_eof()
            return response
        if name == "moved.png":
            raise web.HTTPFound("https://cdn.discordapp.com/attachments/1/2/elsewhere.png")
        if name == "notes.txt":
            return web.Response(body=b"y" * 100_000, content_type="text/plain")
        data = encoded(Image.new("RGB", (2000, 1000), (1, 2, 3)), "PNG")
        return web.Response(body=data, content_type="image/png")


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    served = Host()
    app = web.Application()
    app.router.add_get("/attachments/{name}", served.handle)
    runner, port = await serve_on_loopback(app, shutdown_timeout=1)
    served.base = f"http://127.0.0.1:{port}"
    yield served
    await runner.cleanup()


def attachment(host: Host, name: str, size: int = 100) -> StoredAttachment:
    return StoredAttachment(name, "image/png", size, f"{host.base}/attachments/{name}")


async def test_an_image_is_downloaded_and_prepared(host: Host) -> None:
    files = AttachmentFiles(allowed_hosts=allowed_hosts_for(host.base), max_image_bytes=1_000_000)
    try:
        prepared = await files.image(attachment(host, "wide.png"))
        assert (prepared.width, prepared.height) == (1024, 512)
        with pytest.raises(AttachmentRefused, match="not downloaded"):
            await files.image(attachment(host, "declared-big.png", size=1_000_001))
        with pytest.raises(AttachmentRefused, match="download stopped"):
            await files.image(attachment(host, "endless.png"))  # declared small, streams 4 MB
        with pytest.raises(AttachmentRefused, match="HTTP 302"):
            await files.image(attachment(host, "moved.png"))
        text = await files.text(attachment(host, "notes.txt"))
        assert text == "y" * 8000 + "…"
    finally:
        await files.close()
    assert host.served == ["wide.png", "endless.png", "moved.png", "notes.txt"]


async def test_a_host_not_allowed_is_never_asked(host: Host) -> None:
    files = AttachmentFiles()  # Discord's CDN only
    try:
        with pytest.raises(AttachmentRefused, match="not a Discord attachment link"):
            await files.image(attachment(host, "wide.png"))
    finally:
        await files.close()
    assert host.served == []
