"""Every sentence exists in both languages, with the same placeholders."""

from __future__ import annotations

import string

import discord

from commands.i18n import text
from commands.locales import en, pt_br


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_catalogues_have_the_same_keys() -> None:
    assert set(en.MESSAGES) == set(pt_br.MESSAGES)


def test_translations_keep_their_placeholders() -> None:
    for key, english in en.MESSAGES.items():
        assert placeholders(pt_br.MESSAGES[key]) == placeholders(english), key


def test_the_locale_picks_the_language() -> None:
    pt = text(discord.Locale.brazil_portuguese, "error.cooldown", seconds=5)
    assert pt == "Calma aí: tente de novo em 5 segundos."
    assert text("en-US", "error.cooldown", seconds=5).startswith("Slow down")
    assert text("fr", "error.cooldown", seconds=5).startswith("Slow down")
    assert text(None, "error.guild_only") == en.MESSAGES["error.guild_only"]
