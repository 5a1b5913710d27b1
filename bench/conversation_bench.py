"""`python -m bench.conversation_bench`: the passive conversation's cost and overhead.

Replays 1,000 messages from 10 members (random authors, one every two seconds: a busy
channel) through the real service path (store, reply policy, personas, conversation, the
Azure adapter with the openai SDK) against the loopback fake Azure, and reports:
Azure calls per 1,000 messages, the tokens they spent per 1,000 messages (as the token
accounting stored them: prompt, completion, cached), prompt tokens per decision (the usage
field), and our own time per trigger with the Azure round trip taken out.

Images: first the added latency of one image (`AttachmentFiles`: the download of a ~4 MB
12-megapixel phone photo from a loopback server, then its decode, downscale and re-encode),
then the same replay once more with a share of the messages carrying such a photo
(`--image-share`, 10% by default), the decisions showing up to 4 images: prompt tokens per
decision with and without images (the fake counts an image's tokens by OpenAI's published
rule for gpt-4o, "auto" detail taken as high).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from PIL import Image, ImageFilter

from services.attachment_files import AttachmentFiles, allowed_hosts_for, prepare_image
from services.background import BackgroundTasks
from services.conversation.conversation import ConversationService
from services.conversation.persona import PersonaProfiles, PersonaService
from services.conversation.reply_policy import FloodGuard, MessageFacts, ReplyPolicy, Trigger
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.cooldown import Cooldown
from services.llm import ChatCompletionsModel, JsonAnswer, JsonRequest, ModelServer
from services.privacy.privacy import PrivacyChoices, PrivacyService, ReplyLog
from services.servers.token_usage import TokenAccounting
from services.store import SqliteStore, StoredAttachment, StoredMessage
from tests.azure_brain import Brain
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.loopback import serve_on_loopback

PHOTO_BYTES = 4_000_000

WORDS = [
    "bom",
    "dia",
    "pessoal",
    "alguém",
    "viu",
    "o",
    "jogo",
    "ontem?",
    "que",
    "partida!",
    "hello",
    "everyone,",
    "anyone",
    "tried",
    "the",
    "new",
    "patch?",
    "lol",
    "kkkk",
    "acho",
    "que",
    "sim,",
    "mas",
    "o",
    "servidor",
    "caiu",
    "duas",
    "vezes.",
    "tomorrow",
    "at",
    "8pm?",
    "combinado",
    "🎉",
    "link",
    "https://example.com/notes",
]


@dataclass
class TimedModel:
    """The real Azure adapter, timed, so the round trip can be taken out of our own time."""

    model: ChatCompletionsModel
    spent: float = 0.0
    calls: int = 0
    prompt_tokens: list[int] = field(default_factory=list)

    @property
    def accepts_temperature(self) -> bool:
        return self.model.accepts_temperature

    @property
    def accepts_images(self) -> bool:
        return self.model.accepts_images

    async def complete_json(self, request: JsonRequest) -> JsonAnswer:
        started = time.perf_counter()
        try:
            answer = await self.model.complete_json(request)
        finally:
            self.spent += time.perf_counter() - started
            self.calls += 1
        if request.schema_name == "decision":
            self.prompt_tokens.append(answer.prompt_tokens)
        return answer


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def phone_photo(target_bytes: int = PHOTO_BYTES) -> bytes:
    """A 4032 x 3024 JPEG (a 12-megapixel phone camera's) of about `target_bytes`: noise over
    a gradient, lightly blurred, at the JPEG quality whose size comes closest."""
    width, height = 4032, 3024
    base = Image.linear_gradient("L").resize((width, height))
    channels = [Image.blend(base, Image.effect_noise((width, height), 60), 0.6) for _ in "RGB"]
    image = Image.merge("RGB", channels).filter(ImageFilter.GaussianBlur(0.6))
    encodings = []
    for quality in (75, 80, 85, 88):
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        encodings.append(out.getvalue())
    return min(encodings, key=lambda data: abs(len(data) - target_bytes))


class PhotoHost:
    """A loopback server that serves one photo at any /attachments/... path, as the CDN."""

    def __init__(self, photo: bytes) -> None:
        self.photo = photo
        self.base = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> PhotoHost:
        app = web.Application()
        app.router.add_get("/attachments/{tail:.*}", self._serve)
        self._runner, port = await serve_on_loopback(app, shutdown_timeout=1)
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        return web.Response(body=self.photo, content_type="image/jpeg")

    def attachment(self, name: str) -> StoredAttachment:
        return StoredAttachment(
            name, "image/jpeg", len(self.photo), f"{self.base}/attachments/{name}"
        )


async def image_latency(host: PhotoHost, runs: int) -> None:
    """Download, then decode + downscale + re-encode, of one photo, `runs` times."""
    files = AttachmentFiles(allowed_hosts=allowed_hosts_for(host.base))
    downloads: list[float] = []
    prepares: list[float] = []
    try:
        prepared = None
        for n in range(runs):
            started = time.perf_counter()
            data = await files.download_image(host.attachment(f"photo{n}.jpg"))
            downloaded = time.perf_counter()
            prepared = await asyncio.to_thread(prepare_image, data)
            downloads.append(downloaded - started)
            prepares.append(time.perf_counter() - downloaded)
    finally:
        await files.close()
    totals = [d + p for d, p in zip(downloads, prepares, strict=True)]
    assert prepared is not None
    print(
        f"one image: a {len(host.photo) / 1e6:.1f} MB 4032x3024 JPEG -> "
        f"{prepared.width}x{prepared.height} {prepared.media_type} of "
        f"{len(prepared.data) / 1e3:.0f} kB, {runs} runs"
    )
    for name, values in (
        ("download (loopback)", downloads),
        ("decode + downscale + encode", prepares),
        ("added per image", totals),
    ):
        print(
            f"  {name}: p50 {percentile(values, 0.5) * 1e3:.1f} ms, "
            f"p99 {percentile(values, 0.99) * 1e3:.1f} ms"
        )


async def replay(
    messages: int,
    members: int,
    persona_min_minutes: int,
    seed: int,
    *,
    image_share: float = 0.0,
    host: PhotoHost | None = None,
) -> None:
    rng = random.Random(seed)
    photos = random.Random(seed + 1)  # its own draws: the texts stay those of the plain run
    start = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    now = start

    def clock() -> datetime:
        return now

    azure = FakeAzureOpenAI(api_key="bench-key", deployment="gpt-bench")
    azure.responder = Brain()
    await azure.start()
    with tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore(Path(data_dir))
        model = TimedModel(
            ChatCompletionsModel(
                ModelServer(azure.endpoint, "bench-key", api_version="2024-10-21"),
                model="gpt-bench",
                timeout=10,
            )
        )
        tasks = BackgroundTasks()
        usage = TokenAccounting(store, tasks, clock=clock)
        personas = PersonaService(
            store=store,
            profiles=PersonaProfiles(store),
            model=model,
            history=30,
            refresh_after=10,
            min_interval=timedelta(minutes=persona_min_minutes),
            tasks=tasks,
            clock=clock,
            usage=usage,
        )
        files = AttachmentFiles(allowed_hosts=allowed_hosts_for(host.base if host else None))
        conversation = ConversationService(
            store=store,
            model=model,
            personas=personas.get,
            temperature=TemperatureSettings(GuildSettingsRepository(store)).effective,
            quotable=lambda guild, member: True,
            context_messages=5,
            usage=usage,
            files=files,
            max_images=4,
        )
        privacy = PrivacyService(
            store=store,
            choices=PrivacyChoices(store),
            replies=ReplyLog(store),
            personas=personas,
            usage=usage,
            consent_mode="opt-out",
            retention=timedelta(days=30),
        )
        await privacy.load()
        # No flood guard or mention cooldown in the way: the bench's pace is not a flood.
        policy = ReplyPolicy(
            store=store,
            privacy=privacy,
            every=5,
            mention_cooldown=Cooldown(0),
            flood=FloodGuard(messages=10**9),
        )
        own_times: list[float] = []
        for n in range(messages):
            now = start + timedelta(seconds=2 * n)
            author = rng.randrange(members)
            text = " ".join(rng.choices(WORDS, k=rng.randint(3, 25)))
            message = StoredMessage(10**6 + n, 1, 1, 100 + author, f"m{author}", text, now)
            if host is not None and photos.random() < image_share:
                message = replace(message, attachments=(host.attachment(f"IMG_{n}.jpg"),))
            step = await policy.take(MessageFacts(message, addresses_bot=False))
            if not isinstance(step, Trigger):
                continue
            spent_before = model.spent
            started = time.perf_counter()
            await conversation.decide(step, bot_name="Aria")
            own_times.append(time.perf_counter() - started - (model.spent - spent_before))
        # Background persona rebuilds started by the last triggers count too.
        await personas.wait_idle()
        await usage.wait_idle()
        spent = await usage.since(1, start.date())
        await tasks.close()
        await store.close()
        await model.model.close()
        await files.close()
    await azure.stop()

    decisions = len(model.prompt_tokens)
    with_images = f", {image_share:.0%} of them with a photo" if host is not None else ""
    print(
        f"{messages} messages from {members} members, one every 2 s{with_images}, "
        f"PERSONA_MIN_MINUTES={persona_min_minutes}, PERSONA_REFRESH=10"
    )
    print(f"  Azure calls: {model.calls} ({decisions} decisions, {personas.builds} personas)")
    prompt = sum(row.prompt for row in spent)
    completion = sum(row.completion for row in spent)
    cached = sum(row.cached for row in spent)
    billed = sum(u["prompt_tokens"] + u["completion_tokens"] for u in azure.usages if u)
    if billed != prompt + completion:  # the accounting lost or doubled a call
        raise SystemExit(f"the store counts {prompt + completion} tokens, the fake billed {billed}")
    per_thousand = 1000 / messages
    print(
        f"  tokens per 1,000 messages: {(prompt + completion) * per_thousand:,.0f} "
        f"(prompt {prompt * per_thousand:,.0f}, of which cached {cached * per_thousand:,.0f}; "
        f"completion {completion * per_thousand:,.0f}), as the store recorded them"
    )
    print(
        f"  prompt tokens per decision: mean {statistics.fmean(model.prompt_tokens):.0f}, "
        f"max {max(model.prompt_tokens)} (the usage field of the fake, ~4 characters a token)"
    )
    if host is not None:
        shown = [
            len(r["images"])
            for r in azure.requests
            if r["json"]["response_format"]["json_schema"]["name"] == "decision"
        ]
        with_any = [tokens for tokens, n in zip(model.prompt_tokens, shown, strict=True) if n]
        print(
            f"  images shown: {sum(shown)} in {len(with_any)} of {len(shown)} decisions, "
            f"each {azure.images[0]['width']}x{azure.images[0]['height']}; prompt tokens of "
            f"a decision with images: mean {statistics.fmean(with_any):.0f}, max {max(with_any)}"
        )
    print(
        f"  our time per trigger without the Azure round trip: "
        f"p50 {percentile(own_times, 0.5) * 1e3:.2f} ms, "
        f"p99 {percentile(own_times, 0.99) * 1e3:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--image-share", type=float, default=0.1)
    parser.add_argument("--image-runs", type=int, default=50)
    args = parser.parse_args()
    for minutes in (30, 0):
        asyncio.run(replay(args.messages, args.members, minutes, args.seed))
    asyncio.run(with_images(args))


async def with_images(args: argparse.Namespace) -> None:
    async with PhotoHost(phone_photo()) as host:
        await image_latency(host, args.image_runs)
        await replay(
            args.messages, args.members, 30, args.seed, image_share=args.image_share, host=host
        )


if __name__ == "__main__":
    main()
