"""Images and text files in the conversation, end to end: the real bot reads attachments from
the fake Discord's CDN and shows them to the fake Azure (which records every image part)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image

from app.bot import AzureBot
from app.settings import Settings
from tests.azure_brain import Brain, quoted_chat, user_text
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord, FakeUser
from tests.harness import (
    ALICE,
    BOT,
    BRUNO,
    CAROL,
    GENERAL,
    OFFTOPIC,
    RANDOM,
    running_bot,
    sent_after,
)

JSON = dict[str, Any]


def picture(width: int, height: int, image_format: str, *, alpha: bool = False) -> bytes:
    """A picture of two colours (a flat one compresses to nothing, which is no test)."""
    image = Image.new("RGBA" if alpha else "RGB", (width, height), (200, 40, 40, 120))
    image.paste((20, 90, 200, 255) if alpha else (20, 90, 200), (0, 0, width // 2, height))
    out = io.BytesIO()
    image.save(out, image_format)
    return out.getvalue()


def attached(filename: str, data: bytes, content_type: str | None) -> JSON:
    return {"filename": filename, "data": data, "content_type": content_type}


@pytest.fixture
async def bot(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> AsyncIterator[AzureBot]:
    """The bot pointed at the fake Discord by DISCORD_API_BASE (as an operator would), so that
    it may fetch attachments from the fake's host; every decision answered by a `Brain`."""
    fake_azure.responder = Brain()
    async with running_bot(
        fake_discord, settings, discord_api_base=fake_discord.rest_base, vision_max_images=2
    ) as running:
        yield running


async def mention(
    fake_discord: FakeDiscord,
    author: FakeUser,
    text: str,
    attachments: list[JSON],
    *,
    channel: int = GENERAL,
    embeds: list[JSON] | None = None,
) -> JSON:
    """A message that mentions the bot, and the bot's answer to it."""
    posted = await fake_discord.post_message(
        channel, author, f"<@{BOT.id}> {text}", attachments=attachments, embeds=embeds
    )
    await fake_discord.wait_for_sent(lambda m: m in sent_after(fake_discord, channel, posted))
    return posted


def fetched(fake_discord: FakeDiscord, message: JSON) -> list[str]:
    """The files of `message` the bot downloaded, by name."""
    ids = {a["id"]: a["filename"] for a in message["attachments"]}
    return [
        ids[r.path.split("/")[2]] for r in fake_discord.cdn_fetches() if r.path.split("/")[2] in ids
    ]


def decision_requests(fake_azure: FakeAzureOpenAI) -> list[JSON]:
    return [
        r
        for r in fake_azure.requests
        if r["json"]["response_format"]["json_schema"]["name"] == "decision"
    ]


async def test_a_trigger_with_an_image_shows_the_model_one_downscaled_image(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, bot: AzureBot
) -> None:
    photo = picture(3000, 2000, "JPEG")
    posted = await mention(
        fake_discord, ALICE, "what do you think?", [attached("photo.jpg", photo, "image/jpeg")]
    )
    [request] = decision_requests(fake_azure)
    [image] = request["images"]
    assert (image["format"], image["width"], image["height"]) == ("JPEG", 1024, 683)
    assert image["url_scheme"] == "data:"  # inline: Azure fetches nothing
    assert image["bytes"] < len(photo)
    body = request["json"]
    content = body["messages"][1]["content"]
    assert [part["type"] for part in content] == ["text", "text", "image_url"]
    assert json.loads(content[1]["text"]) == {"image": 1, "file": "photo.jpg", "author": "Alice"}
    assert quoted_chat(body)[-1]["text"].endswith("what do you think?\n[image 1: photo.jpg]")
    assert "photo.jpg" not in body["messages"][0]["content"]  # never in the system prompt
    # Downloaded once, from the link Discord gave, without the bot's token.
    [download] = [r for r in fake_discord.cdn_fetches() if "photo.jpg" in r.path]
    assert "Authorization" not in download.headers
    assert fetched(fake_discord, posted) == ["photo.jpg"]
    # Profiles stay built from text: no other call carries an image.
    assert all(r["images"] == [] for r in fake_azure.requests if r is not request)
    # What is stored is the description, never the bytes.
    [stored] = await bot.services.store.last_in_channel(GENERAL, 1, up_to=int(posted["id"]))
    assert [(a.filename, a.content_type, a.size) for a in stored.attachments] == [
        ("photo.jpg", "image/jpeg", len(photo))
    ]


async def test_a_png_with_transparency_stays_a_png_and_a_gif_gives_its_first_frame(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, bot: AzureBot
) -> None:
    frames = [Image.new("RGB", (1600, 800), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    await mention(
        fake_discord,
        BRUNO,
        "look",
        [
            attached("sticker.png", picture(2048, 512, "PNG", alpha=True), "image/png"),
            attached("party.gif", gif.getvalue(), "image/gif"),
        ],
    )
    [request] = decision_requests(fake_azure)
    shapes = [(i["format"], i["width"], i["height"]) for i in request["images"]]
    assert shapes == [("PNG", 1024, 256), ("JPEG", 1024, 512)]
    gif_part = request["json"]["messages"][1]["content"][4]["image_url"]["url"]
    first_frame = Image.open(io.BytesIO(_data_of(gif_part))).convert("RGB").getpixel((10, 10))
    assert isinstance(first_frame, tuple)
    assert first_frame[0] > 200 and first_frame[1] < 60  # red: the first frame, not the green


def _data_of(data_url: str) -> bytes:
    return base64.b64decode(data_url.split(",", 1)[1])


async def test_an_image_in_the_context_counts_toward_the_limit(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, bot: AzureBot
) -> None:
    earlier = await fake_discord.post_message(
        RANDOM,
        CAROL,
        "two from my trip",
        attachments=[
            attached("beach.png", picture(300, 200, "PNG"), "image/png"),
            attached("hills.webp", picture(400, 300, "WEBP"), "image/webp"),
        ],
    )
    trigger = await mention(
        fake_discord,
        ALICE,
        "and this one?",
        [attached("city.jpg", picture(500, 400, "JPEG"), "image/jpeg")],
        channel=RANDOM,
    )
    [request] = decision_requests(fake_azure)
    # VISION_MAX_IMAGES is 2 here: the trigger's, then the newest of the context.
    assert [(i["width"], i["height"]) for i in request["images"]] == [(500, 400), (300, 200)]
    chat = quoted_chat(request["json"])
    assert chat[-2]["text"] == "two from my trip\n[image 2: beach.png]\n[image: hills.webp]"
    assert chat[-1]["text"].endswith("[image 1: city.jpg]")
    assert fetched(fake_discord, earlier) == ["beach.png"]  # the third was never downloaded
    assert fetched(fake_discord, trigger) == ["city.jpg"]


async def test_a_30_mb_attachment_is_not_downloaded(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, bot: AzureBot
) -> None:
    huge = picture(64, 64, "PNG") + bytes(30 * 1024 * 1024)
    posted = await mention(
        fake_discord, BRUNO, "huge scan", [attached("scan.png", huge, "image/png")]
    )
    [request] = decision_requests(fake_azure)
    assert request["images"] == []
    assert quoted_chat(request["json"])[-1]["text"].endswith("huge scan\n[image: scan.png]")
    assert fetched(fake_discord, posted) == []


async def test_a_link_in_the_text_or_an_embed_is_never_fetched(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, bot: AzureBot
) -> None:
    # A file the CDN serves, linked from a message instead of attached to it.
    elsewhere = await fake_discord.post_message(
        OFFTOPIC,
        CAROL,
        "not watched",
        attachments=[attached("secret.png", picture(50, 50, "PNG"), "image/png")],
    )
    link = elsewhere["attachments"][0]["url"]
    await mention(
        fake_discord,
        ALICE,
        f"see {link}",
        [],
        embeds=[{"type": "image", "url": link, "image": {"url": link}}],
    )
    [request] = decision_requests(fake_azure)
    assert request["images"] == []
    assert fetched(fake_discord, elsewhere) == []


async def test_a_deployment_that_refuses_images_then_gets_text_only(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, bot: AzureBot
) -> None:
    fake_azure.refuse_images = True
    first = await mention(
        fake_discord, CAROL, "cute?", [attached("cat.png", picture(80, 60, "PNG"), "image/png")]
    )
    refused, answered = decision_requests(fake_azure)
    assert refused["status"] == 400 and len(refused["images"]) == 1
    assert answered["status"] == 200 and answered["images"] == []
    assert isinstance(answered["json"]["messages"][1]["content"], str)
    assert quoted_chat(answered["json"])[-1]["text"].endswith("cute?\n[image: cat.png]")
    # Remembered: the next image is not even downloaded.
    second = await mention(
        fake_discord, BRUNO, "and mine", [attached("dog.png", picture(80, 60, "PNG"), "image/png")]
    )
    assert [r["status"] for r in decision_requests(fake_azure)] == [400, 200, 200]
    assert fetched(fake_discord, first) == ["cat.png"]
    assert fetched(fake_discord, second) == []


async def test_a_text_file_of_the_trigger_is_quoted_as_data(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, bot: AzureBot
) -> None:
    notes = b"line one\n\xff\xfe broken bytes\n" + b"x" * 9000
    await mention(
        fake_discord,
        ALICE,
        "can you read my notes?",
        [
            attached("notes.txt", notes, "text/plain; charset=utf-8"),
            attached("main.py", b"print('hi')\n", None),
            attached("report.pdf", b"%PDF-1.7", "application/pdf"),
        ],
    )
    [request] = decision_requests(fake_azure)
    body = request["json"]
    user = user_text(body)
    files = user.split("<files>\n", 1)[1].split("\n</files>", 1)[0].splitlines()
    quoted = [json.loads(line) for line in files]
    assert [(q["file"], q["author"]) for q in quoted] == [
        ("notes.txt", "Alice"),
        ("main.py", "Alice"),
    ]
    assert quoted[0]["text"].startswith("line one\n\ufffd\ufffd broken bytes\n")
    assert len(quoted[0]["text"]) == 8001 and quoted[0]["text"].endswith("…")
    assert quoted[1]["text"] == "print('hi')\n"
    assert quoted_chat(body)[-1]["text"].endswith(
        "[file: notes.txt]\n[file: main.py]\n[file: report.pdf]"
    )
    assert "notes" not in body["messages"][0]["content"].replace("<files>", "")
    assert request["images"] == []
