"""Self-tests of the fake Discord: a real discord.py client talks to it over loopback."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakes.discord_server import FakeDiscord, FakeUser

TOKEN = "test-token"
APP_ID = 900000000000000001
GUILD_ID = 900000000000000002
GENERAL = 900000000000000003
VOICE = 900000000000000004
# discord.py dispatches on_ready guild_ready_timeout (default 2 s) after the last GUILD_CREATE,
# from a task that outlives client.close(); if it fires after close it creates a coroutine it
# cannot schedule ("coroutine Client._run_event was never awaited" -> an unraisable warning in
# a later test). Keep the delay short and let that task finish before closing.
READY_TIMEOUT = 0.05
DM_CHANNEL = 900000000000000008
FORUM = 900000000000000009
BOT = FakeUser(900000000000000005, "testbot", bot=True)
ALICE = FakeUser(900000000000000006, "alice", "Alice")
BOB = FakeUser(900000000000000007, "bob")
JSON = dict[str, Any]


class Harness(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        intents.members = True
        super().__init__(intents=intents, guild_ready_timeout=READY_TIMEOUT)
        self.tree = app_commands.CommandTree(self)
        self.inbox: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.edits: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.deletes: asyncio.Queue[discord.RawMessageDeleteEvent] = asyncio.Queue()
        self.resumed = asyncio.Event()

        @self.tree.command(name="ping", description="Answers privately")
        async def ping(interaction: discord.Interaction, word: str = "pong") -> None:
            perms = interaction.permissions
            await interaction.response.send_message(
                f"{word} admin={perms.administrator}", ephemeral=True
            )

        @self.tree.command(name="slow", description="Defers, then follows up")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("done")

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every non-initial IDENTIFY; not needed against a fake.
        return None

    async def on_message(self, message: discord.Message) -> None:
        await self.inbox.put(message)

    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        await self.edits.put(after)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.deletes.put(payload)

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def next_message(self, within: float = 5) -> discord.Message:
        return await asyncio.wait_for(self.inbox.get(), within)


async def close_client(client: discord.Client, task: asyncio.Task[None]) -> None:
    ready_task = client._connection._ready_task
    if ready_task is not None:
        await asyncio.wait({ready_task}, timeout=5)
    await client.close()
    await task


def make_fake() -> FakeDiscord:
    return FakeDiscord(
        token=TOKEN,
        application_id=APP_ID,
        bot_user=BOT,
        guild_id=GUILD_ID,
        text_channels={GENERAL: "general"},
        voice_channels={VOICE: "Lounge"},
        members=[ALICE, BOB],
        owner_id=ALICE.id,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = make_fake()
    server.add_guild_member(BOB, admin=False)
    server.add_forum_channel(FORUM, "ideas")
    await server.start()
    try:
        with server.install():
            yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Harness]:
    client = Harness()
    await client.login(TOKEN)
    task = asyncio.create_task(client.connect(reconnect=True))
    try:
        await fake.wait_until_connected()
        yield client
    finally:
        await close_client(client, task)
    assert fake.unhandled == []


async def test_install_restores_globals() -> None:
    server = make_fake()
    await server.start()
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    with server.install():
        assert server.rest_base == discord.http.Route.BASE
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == server.gateway_url
    assert before == (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    await server.stop()


async def test_guild_state_and_messages(fake: FakeDiscord, bot: Harness) -> None:
    assert fake.identify_count == 1
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    assert guild.name == "Test Guild"
    assert {c.id for c in guild.text_channels} == {GENERAL}
    assert {c.id for c in guild.voice_channels} == {VOICE}
    alice = guild.get_member(ALICE.id)
    assert alice is not None and alice.guild_permissions.administrator  # owner
    bob = guild.get_member(BOB.id)
    assert bob is not None and not bob.guild_permissions.administrator
    assert bob.guild_permissions.send_messages

    posted = await fake.post_message(GENERAL, ALICE, "hello bot")
    msg = await bot.next_message()
    assert msg.id == int(posted["id"])
    assert msg.content == "hello bot"
    assert isinstance(msg.author, discord.Member)
    assert msg.author.id == ALICE.id
    assert msg.guild is not None and msg.guild.id == GUILD_ID

    reply = await fake.post_message(GENERAL, BOB, f"<@{BOT.id}> hi", reply_to=int(posted["id"]))
    got = await bot.next_message()
    assert got.id == int(reply["id"])
    assert got.reference is not None and got.reference.message_id == int(posted["id"])
    assert bot.user is not None and bot.user in got.mentions

    hook = await fake.post_message(GENERAL, BOB, "via hook", webhook_id=123456789)
    got = await bot.next_message()
    assert got.webhook_id == 123456789 and got.id == int(hook["id"])

    await fake.post_message(DM_CHANNEL, BOB, "a DM", in_guild=False)
    dm = await bot.next_message()
    assert dm.guild is None and isinstance(dm.channel, discord.DMChannel)
    await dm.channel.send("dm answer")
    echo = await bot.next_message()
    assert echo.content == "dm answer" and echo.guild is None

    await fake.edit_message(int(posted["id"]), "edited")
    edited = await asyncio.wait_for(bot.edits.get(), 5)
    assert edited.content == "edited" and edited.edited_at is not None

    await fake.delete_message(int(posted["id"]))
    deleted = await asyncio.wait_for(bot.deletes.get(), 5)
    assert deleted.message_id == int(posted["id"])


async def test_send_round_trip_and_rest(fake: FakeDiscord, bot: Harness) -> None:
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    original = await fake.post_message(GENERAL, ALICE, "question")
    incoming = await bot.next_message()
    async with channel.typing():
        sent = await incoming.reply(
            "answer",
            allowed_mentions=discord.AllowedMentions.none(),
            file=discord.File(__file__, filename="f.py"),
        )
    assert fake.typing == [GENERAL]
    echoed = await bot.next_message()
    assert echoed.id == sent.id
    assert bot.user is not None and echoed.author.id == bot.user.id
    assert echoed.reference is not None
    assert echoed.reference.message_id == int(original["id"])
    (record,) = await fake.wait_for_sent(lambda m: m["content"] == "answer")
    assert record["allowed_mentions"] == {"parse": []}
    assert record["attachments"][0]["filename"] == "f.py"
    assert record["files"][0]["data"].startswith(b'"""Self-tests')

    await sent.edit(content="answer v2")
    assert fake.messages[sent.id]["content"] == "answer v2"
    fetched = await channel.fetch_message(sent.id)
    assert fetched.content == "answer v2"
    history = [m.id async for m in channel.history(limit=10)]
    assert history == sorted(history, reverse=True) and sent.id in history
    await sent.delete()
    assert fake.deleted_messages == [sent.id]
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(sent.id)

    member = await bot.get_guild(GUILD_ID).fetch_member(BOB.id)  # type: ignore[union-attr]
    assert member.id == BOB.id
    info = await bot.application_info()
    assert info.id == APP_ID and info.owner.id == ALICE.id
    with pytest.raises(discord.NotFound) as err:
        await bot.http.send_message(1234, params=discord.http.handle_message_parameters("x"))
    assert err.value.code == 10003


async def test_rate_limited_send_is_retried(fake: FakeDiscord, bot: Harness) -> None:
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next(
        "POST",
        f"/channels/{GENERAL}/messages",
        status=429,
        body={"message": "You are being rate limited.", "retry_after": 0.05, "global": False},
        headers={
            "Via": "1.1 google",
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": "0.05",
            "X-RateLimit-Bucket": "abc",
        },
    )
    sent = await channel.send("after the limit")
    posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert len(posts) == 2
    assert posts[0].headers["Authorization"] == f"Bot {TOKEN}"
    assert fake.messages[sent.id]["content"] == "after the limit"


async def test_slash_commands(fake: FakeDiscord, bot: Harness) -> None:
    bot.tree.copy_global_to(guild=discord.Object(GUILD_ID))
    synced = await bot.tree.sync(guild=discord.Object(GUILD_ID))
    assert {c.name for c in synced} == {"ping", "slow"}
    assert {c["name"] for c in fake.synced_commands[GUILD_ID]} == {"ping", "slow"}

    inter = await fake.send_interaction(
        "ping", user=BOB, channel_id=GENERAL, options=[{"name": "word", "type": 3, "value": "hey"}]
    )
    resp = await inter.wait_for_response()
    assert resp["kind"] == "callback" and resp["type"] == 4
    assert resp["payload"]["content"] == "hey admin=False"
    assert resp["payload"]["flags"] & 64

    fake.add_guild_member(BOB, admin=True)
    inter = await fake.send_interaction("ping", user=BOB, channel_id=GENERAL)
    resp = await inter.wait_for_response()
    assert resp["payload"]["content"] == "pong admin=True"

    inter = await fake.send_interaction("slow", user=ALICE, channel_id=GENERAL)
    resp = await inter.wait_for_response()
    assert inter.responses[0]["type"] == 5
    assert resp["kind"] == "followup" and resp["payload"]["content"] == "done"

    with pytest.raises(discord.NotFound) as err:
        await bot.tree.sync(guild=discord.Object(1))
    assert err.value.code == 10004


async def test_bad_token_fails_login(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("wrong-token")
    finally:
        await client.close()


async def test_reconnect_resumes_without_losing_events(fake: FakeDiscord, bot: Harness) -> None:
    await fake.send_reconnect()
    # Sent while the bot is reconnecting: must be replayed on RESUME.
    first = await fake.post_message(GENERAL, ALICE, "during reconnect")
    got = await bot.next_message()
    assert got.id == int(first["id"])
    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert fake.resume_count == 1 and fake.identify_count == 1
    await fake.post_message(GENERAL, ALICE, "after reconnect")
    assert (await bot.next_message()).content == "after reconnect"


async def test_presence_and_invalid_session(fake: FakeDiscord, bot: Harness) -> None:
    await bot.change_presence(activity=discord.Game("tests"))
    await fake.wait_for_state(lambda: bool(fake.presences))
    assert fake.presences[-1]["activities"][0]["name"] == "tests"
    await fake.send_invalid_session(resumable=False)
    await fake.wait_for_state(lambda: fake.identify_count == 2 and fake.connected)
    await fake.post_message(GENERAL, ALICE, "fresh session")
    assert (await bot.next_message()).content == "fresh session"


class Counter(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.clicks = 0

    @discord.ui.button(label="+1", custom_id="counter:add")
    async def add(
        self, interaction: discord.Interaction, button: discord.ui.Button[Counter]
    ) -> None:
        self.clicks += 1
        await interaction.response.edit_message(content=f"clicks={self.clicks}")


async def test_buttons_and_deferred_edit(fake: FakeDiscord, bot: Harness) -> None:
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    view = Counter()
    sent = await channel.send("clicks=0", view=view)
    stored = fake.messages[sent.id]
    assert stored["components"][0]["components"][0]["custom_id"] == "counter:add"
    await bot.next_message()  # the echo of our own message

    inter = await fake.click_button(stored, "counter:add", user=BOB)
    resp = await inter.wait_for_response()
    assert resp["type"] == 7 and resp["payload"]["content"] == "clicks=1"
    assert fake.messages[sent.id]["content"] == "clicks=1"
    edited = await asyncio.wait_for(bot.edits.get(), 5)
    assert edited.content == "clicks=1"

    @bot.tree.command(name="secret", description="Deferred ephemeral, then edited")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.edit_original_response(content="hidden")
        original = await interaction.original_response()
        assert original.content == "hidden"

    await bot.tree.sync()
    assert [c["name"] for c in fake.synced_commands[None]] == ["ping", "slow", "secret"]
    inter = await fake.send_interaction("secret", user=ALICE, channel_id=GENERAL)
    resp = await inter.wait_for_response()
    assert resp["kind"] == "edit_original"
    assert resp["message"]["flags"] == 64 and resp["message"]["content"] == "hidden"
    await inter.wait_for(lambda r: r["kind"] == "callback")
    assert inter.ephemeral
    await fake.wait_for_request(
        lambda r: r.path.endswith("/messages/@original") and r.method == "GET"
    )


async def test_content_is_stripped_without_the_intent(fake: FakeDiscord) -> None:
    client = discord.Client(
        intents=discord.Intents.default(),  # no message_content
        guild_ready_timeout=READY_TIMEOUT,
    )
    inbox: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        await inbox.put(message)

    await client.login(TOKEN)
    task = asyncio.create_task(client.connect())
    try:
        await fake.wait_until_connected()
        await fake.post_message(GENERAL, ALICE, "secret words")
        assert (await asyncio.wait_for(inbox.get(), 5)).content == ""
        await fake.post_message(GENERAL, ALICE, f"<@{BOT.id}> visible")
        assert (await asyncio.wait_for(inbox.get(), 5)).content.endswith("visible")
    finally:
        await close_client(client, task)


async def test_resumable_invalid_session(fake: FakeDiscord, bot: Harness) -> None:
    await fake.send_invalid_session(resumable=True)
    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert fake.identify_count == 1 and fake.resume_count == 1
    await fake.post_message(GENERAL, ALICE, "still here")
    assert (await bot.next_message()).content == "still here"


async def test_threads_and_forum_posts(fake: FakeDiscord, bot: Harness) -> None:
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    forum = guild.get_channel(FORUM)
    assert isinstance(forum, discord.ForumChannel)
    public = await fake.start_thread(GENERAL, ALICE, "plans")
    private = await fake.start_thread(GENERAL, BOB, "secret", private=True)
    said = await fake.post_message(int(public["id"]), ALICE, "in the thread")
    got = await bot.next_message()
    assert got.id == int(said["id"]) and isinstance(got.channel, discord.Thread)
    assert (got.channel.parent_id, got.channel.type) == (GENERAL, discord.ChannelType.public_thread)
    post, starter = await fake.post_in_forum(FORUM, BOB, "An idea", "what about this?")
    got = await bot.next_message()
    assert got.id == int(post["id"]) == int(starter["id"])
    assert isinstance(got.channel, discord.Thread) and got.channel.parent_id == FORUM
    secret = guild.get_thread(int(private["id"]))
    assert secret is not None and secret.type == discord.ChannelType.private_thread
    assert secret.me is not None  # the bot was added to it
    active = {t.id for t in await guild.active_threads()}
    assert active == {int(public["id"]), int(private["id"]), int(post["id"])}
    # History pages by `after` and `before`, newest first on the wire.
    thread = guild.get_thread(int(public["id"]))
    assert thread is not None
    for n in range(4):
        await fake.post_message(thread.id, BOB, f"more {n}")
    newest = [m.content async for m in thread.history(limit=2)]
    assert newest == ["more 3", "more 2"]
    oldest = [m.content async for m in thread.history(limit=3, after=thread)]
    assert oldest == ["in the thread", "more 0", "more 1"]
    updated = asyncio.ensure_future(bot.wait_for("thread_update", timeout=5))
    await fake.archive_thread(thread.id)
    _, archived = await updated
    assert archived.archived and guild.get_thread(thread.id) is None
    deleted = asyncio.ensure_future(bot.wait_for("raw_thread_delete", timeout=5))
    await fake.delete_thread(int(private["id"]))
    raw = await deleted
    assert (raw.thread_id, raw.parent_id, raw.guild_id) == (int(private["id"]), GENERAL, GUILD_ID)
    assert guild.get_thread(int(private["id"])) is None


# -- as strict as Discord -------------------------------------------------------------------


def _too_long(limit: int) -> JSON:
    return {
        "_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
        ]
    }


def _bad_length(low: int, high: int) -> JSON:
    return {
        "_errors": [
            {
                "code": "BASE_TYPE_BAD_LENGTH",
                "message": f"Must be between {low} and {high} in length.",
            }
        ]
    }


def _embed(**extra: Any) -> JSON:
    return {"title": "t", "description": "d", **extra}


def _field(name: str = "n", value: str = "v") -> JSON:
    return {"name": name, "value": value, "inline": False}


def _row(*children: JSON) -> JSON:
    return {"type": 1, "components": list(children)}


def _button(custom_id: str, label: str = "ok") -> JSON:
    return {"type": 2, "style": 1, "custom_id": custom_id, "label": label}


# Each body, and the `errors` object of Discord's 400 50035 answer to it.
REFUSED_MESSAGES: list[tuple[str, JSON, JSON]] = [
    ("content", {"content": "x" * 2001}, {"content": _too_long(2000)}),
    ("embeds", {"embeds": [_embed()] * 11}, {"embeds": _too_long(10)}),
    ("title", {"embeds": [_embed(title="x" * 257)]}, {"embeds": {"0": {"title": _too_long(256)}}}),
    (
        "description",
        {"embeds": [_embed(description="x" * 4097)]},
        {"embeds": {"0": {"description": _too_long(4096)}}},
    ),
    (
        "fields",
        {"embeds": [_embed(fields=[_field()] * 26)]},
        {"embeds": {"0": {"fields": _too_long(25)}}},
    ),
    (
        "field name",
        {"embeds": [_embed(fields=[_field(name="x" * 257)])]},
        {"embeds": {"0": {"fields": {"0": {"name": _bad_length(1, 256)}}}}},
    ),
    (
        "field value",
        {"embeds": [_embed(fields=[_field()] * 8 + [_field(value="x" * 1025)])]},
        {"embeds": {"0": {"fields": {"8": {"value": _bad_length(1, 1024)}}}}},
    ),
    (
        "footer",
        {"embeds": [_embed(footer={"text": "x" * 2049})]},
        {"embeds": {"0": {"footer": {"text": _too_long(2048)}}}},
    ),
    (
        "author",
        {"embeds": [_embed(author={"name": "x" * 257})]},
        {"embeds": {"0": {"author": {"name": _too_long(256)}}}},
    ),
    (
        "6,000 in all",
        {"embeds": [_embed(description="x" * 3000)] * 2 + [_embed(description="y" * 10)]},
        {
            "embeds": {
                "_errors": [
                    {
                        "code": "MAX_EMBED_SIZE_EXCEEDED",
                        "message": "Embed size exceeds maximum size of 6000",
                    }
                ]
            }
        },
    ),
    (
        "action rows",
        {"components": [_row(_button(f"b{n}")) for n in range(6)]},
        {"components": _too_long(5)},
    ),
    (
        "buttons in a row",
        {"components": [_row(*(_button(f"b{n}") for n in range(6)))]},
        {"components": {"0": {"components": _too_long(5)}}},
    ),
    (
        "custom_id",
        {"components": [_row(_button("x" * 101))]},
        {"components": {"0": {"components": {"0": {"custom_id": _bad_length(1, 100)}}}}},
    ),
    (
        "label",
        {"components": [_row(_button("b", label="x" * 81))]},
        {"components": {"0": {"components": {"0": {"label": _too_long(80)}}}}},
    ),
    (
        "select options",
        {
            "components": [
                _row(
                    {
                        "type": 3,
                        "custom_id": "pick",
                        "options": [{"label": str(n), "value": str(n)} for n in range(26)],
                    }
                )
            ]
        },
        {"components": {"0": {"components": {"0": {"options": _bad_length(1, 25)}}}}},
    ),
]


async def _post(fake: FakeDiscord, method: str, path: str, body: Any) -> tuple[int, JSON]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            fake.rest_base + path,
            json=body,
            headers={"Authorization": f"Bot {TOKEN}"},
        ) as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "errors"),
    [(b, e) for _, b, e in REFUSED_MESSAGES],
    ids=[n for n, _, _ in REFUSED_MESSAGES],
)
async def test_each_message_limit_is_refused_as_discord_does(
    fake: FakeDiscord, body: JSON, errors: JSON
) -> None:
    status, answer = await _post(fake, "POST", f"/channels/{GENERAL}/messages", body)
    assert (status, answer) == (
        400,
        {"code": 50035, "message": "Invalid Form Body", "errors": errors},
    )
    assert fake.sent_messages == []


async def test_a_message_at_every_limit_is_taken(fake: FakeDiscord) -> None:
    embed = {
        "title": "t" * 256,
        "description": "d" * 852,
        "fields": [_field("n" * 10, "v" * 1024)] * 4,
        "footer": {"text": "f" * 500},
        "author": {"name": "a" * 256},
    }
    # 256 + 852 + 4 * (10 + 1,024) + 500 + 256 = 6,000: the most a message's embeds may hold.
    body = {
        "content": "c" * 2000,
        "embeds": [embed],
        "components": [_row(*(_button(f"b{r}{n}", "l" * 80) for n in range(5))) for r in range(5)],
    }
    status, _ = await _post(fake, "POST", f"/channels/{GENERAL}/messages", body)
    assert status == 200


async def test_an_edit_and_an_interaction_answer_are_checked_too(
    fake: FakeDiscord, bot: Harness
) -> None:
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("short")
    with pytest.raises(discord.HTTPException) as refused:
        await sent.edit(content="x" * 2001)
    assert (refused.value.status, refused.value.code) == (400, 50035)

    @bot.tree.command(name="long", description="Answers too long")
    async def long(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("x" * 2001)
        except discord.HTTPException:
            await interaction.response.send_message("short enough")

    await bot.tree.sync()
    inter = await fake.send_interaction("long", user=ALICE, channel_id=GENERAL)
    resp = await inter.wait_for_response()
    assert resp["payload"]["content"] == "short enough"
    assert inter.refusals == [{"kind": "callback", "status": 400, "code": 50035}]


async def test_a_modal_past_discords_limits_is_refused_and_a_valid_one_is_submitted(
    fake: FakeDiscord, bot: Harness
) -> None:
    submitted: list[str] = []

    class Form(discord.ui.Modal):
        answer: discord.ui.TextInput[Form] = discord.ui.TextInput(label="Answer", max_length=10)

        async def on_submit(self, interaction: discord.Interaction) -> None:
            submitted.append(self.answer.value)
            await interaction.response.send_message("thanks", ephemeral=True)

    @bot.tree.command(name="form", description="Opens a form")
    async def form(interaction: discord.Interaction) -> None:
        try:  # a title is at most 45 characters
            await interaction.response.send_modal(Form(title="t" * 46))
        except discord.HTTPException:
            await interaction.response.send_modal(Form(title="A form"))

    await bot.tree.sync()
    inter = await fake.send_interaction("form", user=ALICE, channel_id=GENERAL)
    shown = await inter.wait_for(lambda r: r["type"] == 9)
    assert shown["payload"]["title"] == "A form"
    assert inter.refusals == [{"kind": "callback", "status": 400, "code": 50035}]
    sent = await fake.submit_modal(inter, ["yes"], user=ALICE)
    thanks = await sent.wait_for_response()
    assert thanks["payload"]["content"] == "thanks" and submitted == ["yes"]


async def test_an_upload_past_ten_mebibytes_is_refused_with_413(
    fake: FakeDiscord, bot: Harness
) -> None:
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    big = discord.File(io.BytesIO(b"\0" * (10 * 1024 * 1024 + 1)), "big.bin")
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send(file=big)
    assert (refused.value.status, refused.value.code) == (413, 40005)
    fits = discord.File(io.BytesIO(b"\0" * (10 * 1024 * 1024)), "fits.bin")
    sent = await channel.send(file=fits)
    assert sent.attachments[0].size == 10 * 1024 * 1024


def _command(**extra: Any) -> JSON:
    return {"name": "ok", "description": "fine", "type": 1, **extra}


def _option(name: str = "opt", **extra: Any) -> JSON:
    return {"name": name, "description": "an option", "type": 3, **extra}


REFUSED_COMMANDS: list[tuple[str, list[JSON], JSON]] = [
    ("upper case", [_command(name="Play")], {"0": {"name": "APPLICATION_COMMAND_INVALID_NAME"}}),
    ("space", [_command(name="two words")], {"0": {"name": "APPLICATION_COMMAND_INVALID_NAME"}}),
    ("name length", [_command(name="x" * 33)], {"0": {"name": "BASE_TYPE_BAD_LENGTH"}}),
    (
        "empty description",
        [_command(description="")],
        {"0": {"description": "BASE_TYPE_BAD_LENGTH"}},
    ),
    (
        "description",
        [_command(description="x" * 101)],
        {"0": {"description": "BASE_TYPE_BAD_LENGTH"}},
    ),
    (
        "options",
        [_command(options=[_option(f"o{n}") for n in range(26)])],
        {"0": {"options": "BASE_TYPE_MAX_LENGTH"}},
    ),
    (
        "choices",
        [
            _command(
                options=[_option(choices=[{"name": str(n), "value": str(n)} for n in range(26)])]
            )
        ],
        {"0": {"options": {"0": {"choices": "BASE_TYPE_MAX_LENGTH"}}}},
    ),
    (
        "choice name",
        [_command(options=[_option(choices=[{"name": "x" * 101, "value": "v"}])])],
        {"0": {"options": {"0": {"choices": {"0": {"name": "BASE_TYPE_BAD_LENGTH"}}}}}},
    ),
    (
        "option name",
        [_command(options=[_option("Query")])],
        {"0": {"options": {"0": {"name": "APPLICATION_COMMAND_INVALID_NAME"}}}},
    ),
    (
        "required after optional",
        [_command(options=[_option("a"), _option("b", required=True)])],
        {"0": {"options": {"1": {"required": "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"}}}},
    ),
    (
        "unknown locale",
        [_command(name_localizations={"pt": "tocar"})],
        {"0": {"name_localizations": {"pt": "LOCALE_INVALID"}}},
    ),
    (
        "localized name",
        [_command(name_localizations={"pt-BR": "Tocar Música"})],
        {"0": {"name_localizations": {"pt-BR": "APPLICATION_COMMAND_INVALID_NAME"}}},
    ),
    (
        "localized description",
        [_command(description_localizations={"pt-BR": "x" * 101})],
        {"0": {"description_localizations": {"pt-BR": "BASE_TYPE_BAD_LENGTH"}}},
    ),
    (
        "same name twice",
        [_command(), _command()],
        {"1": {"name": "APPLICATION_COMMANDS_DUPLICATE_NAME"}},
    ),
]


def _codes(errors: JSON) -> JSON:
    """The errors tree with each leaf's list of errors reduced to its first code."""
    return {
        key: value[0]["code"] if key == "_errors" else _codes(value)
        for key, value in errors.items()
    }


def _leaf_codes(errors: JSON) -> Any:
    reduced = _codes(errors)

    def flatten(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"_errors"}:
                return node["_errors"]
            return {k: flatten(v) for k, v in node.items()}
        return node

    return flatten(reduced)


@pytest.mark.parametrize(
    ("body", "codes"),
    [(b, c) for _, b, c in REFUSED_COMMANDS],
    ids=[n for n, _, _ in REFUSED_COMMANDS],
)
async def test_each_command_limit_is_refused_at_sync(
    fake: FakeDiscord, body: list[JSON], codes: JSON
) -> None:
    status, answer = await _post(
        fake, "PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands", body
    )
    assert status == 400 and answer["code"] == 50035 and answer["message"] == "Invalid Form Body"
    assert _leaf_codes(answer["errors"]) == codes
    assert GUILD_ID not in fake.synced_commands


async def test_valid_commands_in_other_scripts_are_taken(fake: FakeDiscord) -> None:
    body = [
        _command(
            name="música",
            name_localizations={"pt-BR": "música", "hi": "गाना", "th": "เพลง", "ja": "音楽"},
            description_localizations={"pt-BR": "Toca música"},
            options=[_option("query", required=True), _option("page")],
        ),
        {"name": "Show Persona", "type": 2},  # user commands may have capitals and spaces
    ]
    status, answer = await _post(
        fake, "PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands", body
    )
    assert status == 200, answer


class Gated(Harness):
    """A bot whose /gated command waits for the test before it answers (or, deferred, before
    it follows up), and keeps what Discord answered it."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()
        self.go_on = asyncio.Event()
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        @self.tree.command(name="gated", description="Answers when the test says so")
        async def gated(interaction: discord.Interaction, defer: bool = False) -> None:
            if defer:
                await interaction.response.defer(ephemeral=True)
            self.arrived.set()
            await self.go_on.wait()
            try:
                if defer:
                    await interaction.followup.send("late followup")
                else:
                    await interaction.response.send_message("late answer")
            except discord.HTTPException as error:
                self.outcome.set_result(f"{error.status} {error.code}")
            else:
                self.outcome.set_result("ok")


@pytest.fixture
async def gated(fake: FakeDiscord) -> AsyncIterator[Gated]:
    client = Gated()
    await client.login(TOKEN)
    task = asyncio.create_task(client.connect(reconnect=True))
    try:
        await fake.wait_until_connected()
        await client.tree.sync()
        yield client
    finally:
        await close_client(client, task)


async def test_a_first_response_after_three_seconds_is_an_unknown_interaction(
    fake: FakeDiscord, gated: Gated
) -> None:
    inter = await fake.send_interaction("gated", user=ALICE, channel_id=GENERAL)
    await asyncio.wait_for(gated.arrived.wait(), 5)
    fake.advance_clock(3.01)
    gated.go_on.set()
    assert await asyncio.wait_for(gated.outcome, 5) == "404 10062"
    assert inter.refusals == [{"kind": "callback", "status": 404, "code": 10062}]
    assert not inter.acknowledged


async def test_a_followup_token_expires_after_fifteen_minutes(
    fake: FakeDiscord, gated: Gated
) -> None:
    inter = await fake.send_interaction(
        "gated",
        user=ALICE,
        channel_id=GENERAL,
        options=[{"name": "defer", "type": 5, "value": True}],
    )
    await asyncio.wait_for(gated.arrived.wait(), 5)
    assert inter.deferred
    fake.advance_clock(15 * 60 + 1)
    gated.go_on.set()
    assert await asyncio.wait_for(gated.outcome, 5) == "401 50027"
    assert inter.refusals == [{"kind": "followup", "status": 401, "code": 50027}]


async def test_a_followup_within_fifteen_minutes_is_taken(fake: FakeDiscord, gated: Gated) -> None:
    inter = await fake.send_interaction(
        "gated",
        user=ALICE,
        channel_id=GENERAL,
        options=[{"name": "defer", "type": 5, "value": True}],
    )
    await asyncio.wait_for(gated.arrived.wait(), 5)
    fake.advance_clock(14 * 60)
    gated.go_on.set()
    assert await asyncio.wait_for(gated.outcome, 5) == "ok"
    assert (await inter.wait_for_response())["payload"]["content"] == "late followup"


class Deferring(Harness):
    """A bot whose /deferring command defers publicly, then asks for two private follow-ups."""

    def __init__(self) -> None:
        super().__init__()

        @self.tree.command(name="deferring", description="Defers, then follows up twice")
        async def deferring(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("first, asked private", ephemeral=True)
            await interaction.followup.send("second, asked private", ephemeral=True)


async def test_the_first_followup_after_a_defer_keeps_the_defer_s_visibility(
    fake: FakeDiscord,
) -> None:
    client = Deferring()
    await client.login(TOKEN)
    task = asyncio.create_task(client.connect(reconnect=True))
    try:
        await fake.wait_until_connected()
        await client.tree.sync()
        inter = await fake.send_interaction("deferring", user=ALICE, channel_id=GENERAL)
        first = (await inter.wait_for_response())["message"]
        await inter.wait_for(lambda r: r["payload"].get("content") == "second, asked private")
    finally:
        await close_client(client, task)
    # Discord edits the public "thinking" message: the first answer is public after all.
    assert inter.original is not None and first["id"] == inter.original["id"]
    assert inter.original["content"] == "first, asked private"
    assert not inter.original["flags"] & 64 and not inter.original["flags"] & 128
    second = inter.followups[1]
    assert second["id"] != first["id"] and second["flags"] & 64  # later ones are as asked


async def test_a_route_bucket_429_is_waited_out(fake: FakeDiscord, bot: Harness) -> None:
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next_rate_limited("POST", f"/channels/{GENERAL}/messages", retry_after=0.2, times=2)
    started = asyncio.get_running_loop().time()
    sent = await channel.send("after the bucket's limit")
    assert asyncio.get_running_loop().time() - started >= 0.4
    posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert len(posts) == 3
    assert fake.messages[sent.id]["content"] == "after the bucket's limit"


async def test_the_global_429_is_waited_out_and_spares_interactions(
    fake: FakeDiscord, bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    bot.tree.copy_global_to(guild=discord.Object(GUILD_ID))
    await bot.tree.sync(guild=discord.Object(GUILD_ID))
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next_globally_rate_limited(retry_after=0.2)
    # Interaction endpoints are not bound to the global limit: the answer goes through.
    inter = await fake.send_interaction("ping", user=BOB, channel_id=GENERAL)
    assert (await inter.wait_for_response())["type"] == 4
    sent = await channel.send("after the global limit")
    assert fake.messages[sent.id]["content"] == "after the global limit"
    assert "Global rate limit has been hit" in caplog.text
    posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert len(posts) == 2
