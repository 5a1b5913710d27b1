"""/persona shows whatever the model said about a member within Discord's embed limits."""

from __future__ import annotations

from app.settings import Settings
from commands.persona import FIELD_VALUE_LIMIT, field_value
from tests.azure_brain import Brain
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import ALICE, GENERAL, running_bot
from tests.test_e2e_persona import answer, build_profiles


def test_a_field_value_is_never_empty_nor_past_the_limit() -> None:
    assert field_value("") == field_value("  \n ") == "—"
    assert field_value(" pt-BR ") == "pt-BR"
    assert field_value("x" * FIELD_VALUE_LIMIT) == "x" * FIELD_VALUE_LIMIT
    cut = field_value("word " * 500)
    assert len(cut) == FIELD_VALUE_LIMIT and cut.endswith("…")


async def test_an_empty_language_and_a_long_tone_still_show_the_profile(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    # The model keeps to the schema (strings) but not to their sense.
    fake_azure.responder = Brain(persona_tone="cheerful, " * 300, persona_language="")
    fake_discord.reset()
    async with running_bot(fake_discord, settings):
        await build_profiles(fake_discord, [ALICE], GENERAL)
        shown = await fake_discord.send_interaction("persona", user=ALICE, channel_id=GENERAL)
        message = await answer(shown)
    [embed] = message["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Main language"] == "—"
    assert len(fields["Tone"]) == FIELD_VALUE_LIMIT
    assert fields["Tone"].startswith("cheerful, cheerful")
    assert all(0 < len(f["value"]) <= FIELD_VALUE_LIMIT for f in embed["fields"])
