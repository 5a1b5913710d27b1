"""Members see the bot in their client's language: Portuguese for pt-BR, English otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from discord import app_commands

from app.bot import AzureBot
from app.composition import open_services
from app.settings import Settings
from app.sync import sync_commands
from commands.locales import en, pt_br
from tests.fakes.discord_server import FakeDiscord
from tests.harness import BRUNO, CAROL, GENERAL, GUILD_ID, MODERATOR, running_bot

JSON = dict[str, Any]


async def test_synced_commands_carry_portuguese_names_and_descriptions(
    fake_discord: FakeDiscord, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await sync_commands(settings, guild_id=GUILD_ID, clear=False) == 0
    capsys.readouterr()
    commands = {c["name"]: c for c in fake_discord.synced_commands[GUILD_ID]}
    for command in commands.values():
        assert command["name_localizations"]["pt-BR"] == pt_br.COMMAND_TEXTS[command["name"]]
        assert (
            command["description_localizations"]["pt-BR"]
            == (pt_br.COMMAND_TEXTS[command["description"]])
        )
        for option in command.get("options", []):
            assert option["name_localizations"]["pt-BR"] == pt_br.COMMAND_TEXTS[option["name"]]
            assert option["description_localizations"]["pt-BR"]
            for choice in option.get("choices", []):
                assert choice["name_localizations"]["pt-BR"] == pt_br.COMMAND_TEXTS[choice["name"]]
    assert commands["temperature"]["name_localizations"]["pt-BR"] == "temperatura"


async def test_every_command_text_has_a_portuguese_translation(settings: Settings) -> None:
    """Fails when a command, option or choice is added without its pt-BR translation."""
    async with open_services(settings) as services, AzureBot(settings, services) as bot:
        await bot.setup_hook()
        texts: list[str] = []
        for command in bot.tree.walk_commands():  # groups, and their subcommands
            texts += [command.name, command.description]
            if isinstance(command, app_commands.Group):
                continue
            for parameter in command.parameters:
                texts += [parameter.display_name, parameter.description]
                texts += [choice.name for choice in parameter.choices]
    assert len(texts) > 10
    assert [text for text in texts if text not in pt_br.COMMAND_TEXTS] == []


@pytest.mark.parametrize(
    ("locale", "catalogue"), [("pt-BR", pt_br.MESSAGES), ("en-US", en.MESSAGES)]
)
async def test_each_command_answers_in_the_members_language(
    fake_discord: FakeDiscord, settings: Settings, locale: str, catalogue: dict[str, str]
) -> None:
    async with running_bot(fake_discord, settings):
        persona = await fake_discord.send_interaction(
            "persona", user=BRUNO, channel_id=GENERAL, locale=locale
        )
        temperature = await fake_discord.send_interaction(
            "temperature", user=BRUNO, channel_id=GENERAL, locale=locale
        )
        refused = await fake_discord.send_interaction(
            "temperature-set",
            user=BRUNO,
            channel_id=GENERAL,
            locale=locale,
            options=[{"name": "value", "type": 10, "value": 1.0}],
        )
        out_of_range = await fake_discord.send_interaction(
            "temperature-set",
            user=MODERATOR,
            channel_id=GENERAL,
            locale=locale,
            options=[{"name": "value", "type": 10, "value": 9.0}],
        )
        answers = [
            (await i.wait_for_response())["message"]["content"]
            for i in (persona, temperature, refused, out_of_range)
        ]
    assert answers[0] == catalogue["persona.none_yet"]
    assert answers[1].splitlines()[1] == catalogue["temperature.base_default"].format(base="0.80")
    permission = catalogue["permission.manage_guild"]
    assert answers[2] == catalogue["error.missing_permissions"].format(permissions=permission)
    assert answers[3] == catalogue["temperature.out_of_range"].format(low=0.0, high=2.0)


@pytest.mark.parametrize(
    ("locale", "catalogue"), [("pt-BR", pt_br.MESSAGES), ("en-US", en.MESSAGES)]
)
async def test_each_voice_command_answers_in_the_members_language(
    fake_discord: FakeDiscord, settings: Settings, locale: str, catalogue: dict[str, str]
) -> None:
    asked: list[tuple[str, list[JSON]]] = [
        ("play", [{"name": "query", "type": 3, "value": "uma música"}]),
        ("queue", []),
        ("skip", []),
        ("pause", []),
        ("resume", []),
        ("stop", []),
        ("say", [{"name": "text", "type": 3, "value": "olá"}]),
    ]
    async with running_bot(fake_discord, settings):  # Carol is in no voice channel
        interactions = [
            await fake_discord.send_interaction(
                name, user=CAROL, channel_id=GENERAL, locale=locale, options=options
            )
            for name, options in asked
        ]
        answers = [(await i.wait_for_response())["message"] for i in interactions]
    assert [a["content"] for a in answers] == [
        catalogue["voice.join_first"],
        catalogue["music.queue_empty"],
        catalogue["music.nothing_playing"],
        catalogue["music.nothing_playing"],
        catalogue["voice.join_first"],  # resuming means joining the caller
        catalogue["music.nothing_playing"],
        catalogue["say.not_configured"],
    ]
    assert [(name, a["flags"] & 64) for (name, _), a in zip(asked, answers, strict=True)] == [
        (name, 64) for name, _ in asked
    ]  # each refusal is private
