"""/persona, /temperature and each member's control over their data, end to end."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sized
from typing import Any

import pytest
from cryptography.fernet import Fernet
from discord import app_commands

from app.settings import Secret, Settings
from tests.azure_brain import Brain, quoted_chat
from tests.conftest import on_both_stores
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord, FakeInteraction, FakeUser
from tests.harness import (
    ALICE,
    BRUNO,
    CAROL,
    GENERAL,
    GUILD_ID,
    MODERATOR,
    RANDOM,
    chat_listener,
    eventually,
    running_bot,
    stored_text,
)
from tests.test_sqlite_store import every_file_bytes as files_bytes

JSON = dict[str, Any]
EPHEMERAL = 64


def option(name: str, value: object, kind: int = 3) -> JSON:
    return {"name": name, "type": kind, "value": value}


async def answer(interaction: FakeInteraction) -> JSON:
    """The message the member finally sees (after a defer, the followup or the edit)."""
    response = await interaction.wait_for_response()
    return dict(response["message"] or response["payload"])


async def build_profiles(discord: FakeDiscord, members: list[FakeUser], channel: int) -> None:
    """Each member writes until the bot has answered one of their fifth messages."""
    posted = [
        await discord.post_message(channel, member, f"{member.username} writes {n}")
        for member in members
        for n in range(5)
    ]
    first = int(posted[0]["id"])
    await discord.wait_for_sent(
        lambda m: int(m["channel_id"]) == channel and int(m["id"]) > first, count=len(members)
    )


async def test_persona_shows_only_the_callers_profile_ephemerally(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    fake_discord.reset()
    async with running_bot(fake_discord, settings):
        await build_profiles(fake_discord, [ALICE, BRUNO], GENERAL)
        shown = await fake_discord.send_interaction("persona", user=ALICE, channel_id=GENERAL)
        message = await answer(shown)
        nobody = await fake_discord.send_interaction("persona", user=CAROL, channel_id=GENERAL)
        none_yet = await answer(nobody)
    assert message["flags"] & EPHEMERAL
    [embed] = message["embeds"]
    assert "Alice" in embed["title"]
    assert "alice writes 4" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Reply style"] == "playful"
    assert fields["Main language"] == "pt-BR"
    assert "Questions ▱▱▱▱▱▱▱▱▱▱ 0%" in fields["Style figures"]
    assert "your last 5 messages" in fields["Built from"]
    assert "30 days" in fields["What is kept"]
    assert "bruno" not in str(embed).lower()
    assert none_yet["flags"] & EPHEMERAL
    assert none_yet["content"].startswith("You have no profile yet")


@on_both_stores
async def test_forget_leaves_nothing_of_the_member_in_the_store(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings):
        await build_profiles(fake_discord, [ALICE, BRUNO], RANDOM)
        asked = await fake_discord.send_interaction(
            "persona", user=ALICE, channel_id=RANDOM, options=[option("action", "forget")]
        )
        question = await answer(asked)
        assert question["flags"] & EPHEMERAL
        assert "cannot be undone" in question["content"]
        # Someone else cannot press the caller's button, and is told so.
        intruder = await fake_discord.click_button(question, "persona:forget:yes", user=BRUNO)
        told = await answer(intruder)
        assert told["content"] == "These buttons belong to the member who asked."
        assert told["flags"] & EPHEMERAL
        await fake_discord.click_button(question, "persona:forget:yes", user=ALICE)
        done = await asked.wait_for(
            lambda r: r["kind"] == "edit_original" and "Done" in r["payload"].get("content", "")
        )

        # The embedded store purges removed text from its files in the background, within
        # seconds; PostgreSQL deletes the rows (VACUUM reclaims the space).
        async def purged() -> str:
            text = await stored_text(settings)
            return "" if "alice writes" in text else text

        text = await eventually(purged)
    assert "5 messages" in done["payload"]["content"]
    assert str(ALICE.id) not in text
    assert str(BRUNO.id) in text and "bruno writes" in text


async def test_opt_out_stops_storage_and_azure_use(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    brain = Brain()
    fake_azure.responder = brain
    async with running_bot(fake_discord, settings) as bot:
        opted = await fake_discord.send_interaction(
            "persona", user=CAROL, channel_id=GENERAL, options=[option("action", "opt-out")]
        )
        assert "opted out" in (await answer(opted))["content"]
        for n in range(4):
            await fake_discord.post_message(GENERAL, BRUNO, f"bruno line {n}")
        trigger = await fake_discord.post_message(GENERAL, CAROL, "carol secret words")
        [reply] = await fake_discord.wait_for_sent(
            lambda m: int(m["channel_id"]) == GENERAL and int(m["id"]) > int(trigger["id"])
        )
        stored = await bot.services.store.last_in_channel(GENERAL, 50)
        [decision] = chat_listener(bot).decisions
    # Her message counted (it was the fifth) but was neither stored nor sent to Azure.
    assert decision.trigger.message_id == int(trigger["id"])
    assert decision.persona_style is None
    assert all(m.author_id != CAROL.id for m in stored)
    assert not any("carol" in str(r["json"]).lower() for r in fake_azure.requests)
    assert [line["text"] for line in quoted_chat(brain.decisions[0])][-1] == "bruno line 3"
    assert "message_reference" not in reply or reply["message_reference"] is None
    assert brain.personas == []


async def test_opt_in_mode_profiles_nobody_until_they_opt_in(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    brain = Brain()
    fake_azure.responder = brain
    async with running_bot(fake_discord, settings, profile_consent="opt-in") as bot:
        await build_profiles(fake_discord, [ALICE], GENERAL)
        assert brain.personas == []
        assert chat_listener(bot).decisions[-1].persona_style is None
        needs = await fake_discord.send_interaction("persona", user=ALICE, channel_id=GENERAL)
        assert "opt-in" in (await answer(needs))["content"]
        joined = await fake_discord.send_interaction(
            "persona", user=ALICE, channel_id=GENERAL, options=[option("action", "opt-in")]
        )
        assert "opted in" in (await answer(joined))["content"]
        await build_profiles(fake_discord, [ALICE], GENERAL)
        decisions = chat_listener(bot).decisions
    assert len(brain.personas) == 1
    assert decisions[-1].persona_style == "playful"


async def test_refresh_rebuilds_now_and_is_rate_limited(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    brain = Brain()
    fake_azure.responder = brain
    async with running_bot(fake_discord, settings):
        await build_profiles(fake_discord, [BRUNO], RANDOM)
        refresh = [option("action", "refresh")]
        first = await fake_discord.send_interaction(
            "persona", user=BRUNO, channel_id=RANDOM, options=refresh
        )
        rebuilt = await answer(first)
        second = await fake_discord.send_interaction(
            "persona", user=BRUNO, channel_id=RANDOM, options=refresh
        )
        limited = await answer(second)
    assert first.deferred
    assert rebuilt["embeds"][0]["title"].startswith("How I see Bruno")
    assert len(brain.personas) == 2
    assert limited["content"].startswith("Your profile was refreshed recently")


async def test_temperature_explains_itself(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings):
        await build_profiles(fake_discord, [ALICE], GENERAL)
        asked = await fake_discord.send_interaction("temperature", user=ALICE, channel_id=GENERAL)
        shown = await answer(asked)
    assert shown["flags"] & EPHEMERAL
    # The brain suggests 1.0 for everyone: the default base 0.8 nudged by +0.2.
    assert shown["content"].splitlines() == [
        "Your response temperature here: **1.00**",
        "• Server base: 0.80 (the default)",
        "• Your persona's adjustment: +0.20",
        "• Within the allowed range 0.2–1.5",
        "• The AI deployment uses this temperature.",
    ]


async def test_temperature_answers_in_time_from_the_stored_profile_without_calling_azure(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    # A member with messages but no profile yet, and a deployment that takes 4 s to answer:
    # /temperature must not build the profile (Discord refuses a first answer after 3 s).
    fake_azure.responder = Brain()
    fake_azure.delay_seconds = 4.0
    async with running_bot(fake_discord, settings, azure_openai_timeout=10.0) as bot:
        for n in range(3):  # fewer than the pace of 5: no reply, no profile
            await fake_discord.post_message(GENERAL, CAROL, f"carol writes {n}")
        await eventually(
            lambda: _count(bot.services.store.last_by_author(GUILD_ID, CAROL.id, 10), 3)
        )
        asked = await fake_discord.send_interaction("temperature", user=CAROL, channel_id=GENERAL)
        shown = await answer(asked)
    assert asked.refusals == []
    assert asked.responses[0]["kind"] == "callback"  # acknowledged first, then answered
    assert shown["flags"] & EPHEMERAL
    assert shown["content"].splitlines()[:3] == [
        "Your response temperature here: **0.80**",
        "• Server base: 0.80 (the default)",
        "• No persona adjustment (you have no profile)",
    ]
    assert fake_azure.requests == []


async def _count(found: Awaitable[Sized], expected: int) -> bool:
    return len(await found) == expected


async def test_opt_out_defers_then_deletes_the_replies_then_follows_up(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings) as bot:
        await build_profiles(fake_discord, [CAROL], GENERAL)

        async def bot_replies() -> list[int]:
            stored = await bot.services.store.last_in_channel(GENERAL, 50)
            return [m.message_id for m in stored if m.from_bot]

        await eventually(bot_replies)  # the bot answered her, and keeps that it did
        opted = await fake_discord.send_interaction(
            "persona", user=CAROL, channel_id=GENERAL, options=[option("action", "opt-out")]
        )
        done = await answer(opted)
        left = await bot.services.store.last_in_channel(GENERAL, 50)
    assert opted.responses[0]["kind"] == "callback" and opted.responses[0]["type"] == 5
    assert opted.refusals == []
    assert done["flags"] & EPHEMERAL
    assert done["content"].startswith("You're opted out: I deleted 5 messages")
    assert left == []  # her messages and the bot's replies to her


@pytest.mark.parametrize(
    ("member", "options", "expected"),
    [
        (BRUNO, [option("value", 1.2, 10)], "You need the Manage Server permission for that."),
        (MODERATOR, [option("value", 5.0, 10)], "The temperature must be a number from 0.0"),
        (MODERATOR, [option("value", "warm", 3)], "The temperature must be a number from 0.0"),
        (MODERATOR, [], "Give a `value` from 0.0 to 2.0"),
    ],
)
async def test_temperature_set_refuses_what_is_not_allowed(
    fake_discord: FakeDiscord,
    fake_azure: FakeAzureOpenAI,
    settings: Settings,
    member: FakeUser,
    options: list[JSON],
    expected: str,
) -> None:
    async with running_bot(fake_discord, settings) as bot:
        asked = await fake_discord.send_interaction(
            "temperature-set", user=member, channel_id=GENERAL, options=options
        )
        refused = await answer(asked)
        base = await bot.services.temperature.base(GUILD_ID)
    assert refused["flags"] & EPHEMERAL
    assert refused["content"].startswith(expected)
    assert base is None


async def test_a_set_temperature_survives_a_restart(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings):
        asked = await fake_discord.send_interaction(
            "temperature-set",
            user=MODERATOR,
            channel_id=GENERAL,
            options=[option("value", 1.3, 10)],
        )
        assert (await answer(asked))["content"] == "The server's base temperature is now 1.30."
    async with running_bot(fake_discord, settings):
        asked = await fake_discord.send_interaction("temperature", user=BRUNO, channel_id=GENERAL)
        lines = (await answer(asked))["content"].splitlines()
    assert lines[0] == "Your response temperature here: **1.30**"
    assert lines[1] == "• Server base: 1.30 (set by a moderator)"


async def test_an_unexpected_error_is_an_apology_with_a_logged_reference(
    fake_discord: FakeDiscord,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_bot(fake_discord, settings) as bot:

        @app_commands.command(name="broken", description="always fails")
        async def broken(interaction: Any) -> None:
            raise RuntimeError("a bug")

        bot.tree.add_command(broken)
        with caplog.at_level(logging.ERROR, logger="commands.errors"):
            asked = await fake_discord.send_interaction("broken", user=ALICE, channel_id=GENERAL)
            apology = await answer(asked)
            await eventually(lambda: _logged(caplog))
    reference = apology["content"].rsplit("reference ", 1)[1].rstrip(")")
    assert apology["flags"] & EPHEMERAL
    assert apology["content"].startswith("Sorry, something went wrong on my side.")
    [record] = [r for r in caplog.records if r.name == "commands.errors"]
    assert reference in record.getMessage()
    assert f"user {ALICE.id}" in record.getMessage()
    assert f"guild {GUILD_ID}" in record.getMessage()
    assert "/broken" in record.getMessage()


async def _logged(caplog: pytest.LogCaptureFixture) -> bool:
    return any(r.name == "commands.errors" for r in caplog.records)


async def test_with_encryption_no_word_reaches_the_files_in_plaintext(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    key = Fernet.generate_key().decode()
    async with running_bot(fake_discord, settings, store_encryption_key=Secret(key)) as bot:
        for n in range(4):
            await fake_discord.post_message(GENERAL, CAROL, f"carol says quetzalcoatl {n}")
        trigger = await fake_discord.post_message(GENERAL, CAROL, "quetzalcoatl at last")
        await fake_discord.wait_for_sent(
            lambda m: int(m["channel_id"]) == GENERAL and int(m["id"]) > int(trigger["id"])
        )

        # The bot's own reply echoes the word; it is stored (sealed) as well.
        async def reply_stored() -> bool:
            return any(m.from_bot for m in await bot.services.store.last_in_channel(GENERAL, 10))

        await eventually(reply_stored)
        stored = await bot.services.store.last_in_channel(GENERAL, 10)
    files = files_bytes(settings.data_dir)
    assert sum("quetzalcoatl" in m.content for m in stored) == 6
    assert b"quetzalcoatl" not in files
    assert b"Carol" not in files
