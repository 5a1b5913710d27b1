"""/setup end to end: a server's admins choose its channels and pace from Discord."""

from __future__ import annotations

from typing import Any

import pytest

from app.settings import Settings
from services.discord_permissions import SEND_MESSAGES
from tests.azure_brain import Brain
from tests.conftest import on_both_stores
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord, FakeInteraction
from tests.harness import (
    BOT,
    BRUNO,
    CAROL,
    GENERAL,
    GUILD_ID,
    MODERATOR,
    OFFTOPIC,
    RANDOM,
    eventually,
    post_many,
    running_bot,
    stored_human_ids,
)

JSON = dict[str, Any]
EPHEMERAL = 1 << 6


def channel_option(channel_id: int, name: str = "channel") -> tuple[JSON, JSON]:
    """The option, and the `resolved` entry Discord sends with it."""
    option = {"name": name, "type": 7, "value": str(channel_id)}
    resolved = {
        "channels": {
            str(channel_id): {"id": str(channel_id), "name": "c", "type": 0, "permissions": "0"}
        }
    }
    return option, resolved


async def setup(
    discord: FakeDiscord,
    subcommand: str,
    options: list[JSON] | None = None,
    *,
    channel: int | None = None,
    user: Any = MODERATOR,
) -> FakeInteraction:
    resolved = None
    options = list(options or [])
    if channel is not None:
        option, resolved = channel_option(channel)
        options.append(option)
    return await discord.send_interaction(
        "setup",
        user=user,
        channel_id=GENERAL,
        options=[{"name": subcommand, "type": 1, "options": options}],
        resolved=resolved,
    )


async def answer(interaction: FakeInteraction) -> JSON:
    response = await interaction.wait_for_response()
    message = dict(response["message"] or response["payload"])
    assert message["flags"] & EPHEMERAL
    return message


def replies_to(discord: FakeDiscord, channel_id: int, first: int) -> Any:
    return lambda m: int(m["channel_id"]) == channel_id and int(m["id"]) > first


@on_both_stores
async def test_watch_then_the_fifth_message_is_answered_even_after_a_restart(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings):
        said = await answer(await setup(fake_discord, "watch", channel=OFFTOPIC))
        assert said["content"] == f"I'm now listening and talking in <#{OFFTOPIC}>."
        posted = await post_many(fake_discord, OFFTOPIC, [BRUNO, CAROL], 5, "here")
        first = int(posted[0]["id"])
        reply = (await fake_discord.wait_for_sent(replies_to(fake_discord, OFFTOPIC, first)))[0]
        assert int(reply["message_reference"]["message_id"]) == int(posted[4]["id"])
    async with running_bot(fake_discord, settings):  # a new process reads it from the store
        posted = await post_many(fake_discord, OFFTOPIC, [BRUNO, CAROL], 5, "again")
        first = int(posted[0]["id"])
        again = await fake_discord.wait_for_sent(replies_to(fake_discord, OFFTOPIC, first))
    assert int(again[0]["message_reference"]["message_id"]) == int(posted[4]["id"])


@on_both_stores
async def test_unwatch_then_nothing_is_stored(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings) as bot:
        said = await answer(await setup(fake_discord, "unwatch", channel=GENERAL))
        assert said["content"].startswith(f"I no longer listen in <#{GENERAL}>")
        ignored = await fake_discord.post_message(GENERAL, BRUNO, "not kept")
        kept = await fake_discord.post_message(RANDOM, BRUNO, "kept")

        async def stored() -> bool:
            return int(kept["id"]) in await stored_human_ids(bot, RANDOM)

        assert await eventually(stored)
        assert int(ignored["id"]) not in await stored_human_ids(bot, GENERAL)


@on_both_stores
async def test_a_pace_for_one_channel(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings) as bot:
        said = await answer(
            await setup(
                fake_discord, "pace", [{"name": "every", "type": 4, "value": 2}], channel=RANDOM
            )
        )
        assert said["content"] == f"Pace in <#{RANDOM}>: every 2 messages."
        posted = await post_many(fake_discord, RANDOM, [BRUNO, CAROL], 4, "quick")
        first = int(posted[0]["id"])
        replies = await fake_discord.wait_for_sent(replies_to(fake_discord, RANDOM, first), count=2)
        answered = sorted(int(r["message_reference"]["message_id"]) for r in replies)
        assert answered == [int(posted[1]["id"]), int(posted[3]["id"])]
        assert bot.services.servers.every(GUILD_ID, GENERAL) == 5  # the server keeps the default


async def test_mentions_only_answers_a_mention_and_nothing_else(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings):
        said = await answer(
            await setup(fake_discord, "pace", [{"name": "mentions-only", "type": 5, "value": True}])
        )
        assert said["content"] == "Pace in this server: only when mentioned."
        posted = await post_many(fake_discord, GENERAL, [BRUNO, CAROL], 5, "chatter")
        mention = await fake_discord.post_message(
            GENERAL, BRUNO, f"<@{BOT.id}> hello?", mentions=[BOT]
        )
        replies = await fake_discord.wait_for_sent(
            replies_to(fake_discord, GENERAL, int(posted[0]["id"]))
        )
    assert [int(r["message_reference"]["message_id"]) for r in replies] == [int(mention["id"])]


async def test_a_pace_needs_a_number_or_mentions_only(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings):
        said = await answer(await setup(fake_discord, "pace"))
    assert said["content"] == "Give `every` (2 to 50) or `mentions-only: True`, not both."


async def test_show_says_where_each_value_comes_from(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings):
        await answer(await setup(fake_discord, "watch", channel=OFFTOPIC))
        await answer(
            await setup(
                fake_discord, "pace", [{"name": "every", "type": 4, "value": 7}], channel=RANDOM
            )
        )
        shown = await answer(await setup(fake_discord, "show"))
    fields = {f["name"]: f["value"] for f in shown["embeds"][0]["fields"]}
    assert fields["Watched channels"].splitlines() == [
        f"<#{GENERAL}> (the operator's default)",
        f"<#{RANDOM}> (the operator's default)",
        f"<#{OFFTOPIC}> (set for this server)",
    ]
    assert fields["Pace for the server"] == "every 5 messages (the operator's default)"
    assert fields["Pace per channel"] == f"<#{RANDOM}>: every 7 messages"


@on_both_stores
async def test_reset_after_the_button_goes_back_to_the_defaults(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings) as bot:
        await answer(await setup(fake_discord, "watch", channel=OFFTOPIC))
        asked = await setup(fake_discord, "reset")
        question = await answer(asked)
        assert question["content"].startswith("Go back to the operator's defaults")
        await fake_discord.click_button(question, "setup:reset:yes", user=MODERATOR)
        await asked.wait_for(
            lambda r: (
                r["kind"] == "edit_original"
                and "back to the operator's defaults" in r["payload"].get("content", "")
            )
        )
        assert bot.services.servers.watched_by(GUILD_ID) == frozenset()
        assert await bot.services.state.get_state("guild_settings", str(GUILD_ID)) is None


async def test_a_member_without_manage_server_is_refused(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings) as bot:
        said = await answer(await setup(fake_discord, "watch", channel=OFFTOPIC, user=BRUNO))
        assert said["content"] == "You need the Manage Server permission for that."
        assert bot.services.servers.watched_by(GUILD_ID) == frozenset()


async def test_a_channel_where_the_bot_cannot_send_is_refused_with_what_is_missing(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    fake_discord.set_overwrite(OFFTOPIC, fake_discord.bot_role_id, deny=SEND_MESSAGES)
    try:
        async with running_bot(fake_discord, settings) as bot:
            said = await answer(await setup(fake_discord, "watch", channel=OFFTOPIC))
            assert bot.services.servers.watched_by(GUILD_ID) == frozenset()
    finally:
        fake_discord.clear_overwrites(OFFTOPIC)
    assert said["content"].startswith(f"I can't work in <#{OFFTOPIC}>: I lack Send Messages.")


@pytest.mark.parametrize("locale", ["pt-BR"])
async def test_setup_answers_in_portuguese(
    fake_discord: FakeDiscord, settings: Settings, locale: str
) -> None:
    async with running_bot(fake_discord, settings):
        option, resolved = channel_option(OFFTOPIC)
        asked = await fake_discord.send_interaction(
            "setup",
            user=MODERATOR,
            channel_id=GENERAL,
            locale=locale,
            options=[{"name": "watch", "type": 1, "options": [option]}],
            resolved=resolved,
        )
        said = await answer(asked)
    assert said["content"] == f"Agora eu leio e converso em <#{OFFTOPIC}>."


async def test_without_channel_id_or_guild_id_a_server_chooses_its_channels(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings, channel_ids=frozenset(), guild_id=None) as bot:
        before = await fake_discord.post_message(RANDOM, BRUNO, "nobody listens yet")
        await answer(await setup(fake_discord, "watch", channel=RANDOM))
        posted = await post_many(fake_discord, RANDOM, [BRUNO, CAROL], 5, "now")
        first = int(posted[0]["id"])
        reply = (await fake_discord.wait_for_sent(replies_to(fake_discord, RANDOM, first)))[0]
        stored = await stored_human_ids(bot, RANDOM)
    assert int(reply["message_reference"]["message_id"]) == int(posted[4]["id"])
    assert int(before["id"]) not in stored
