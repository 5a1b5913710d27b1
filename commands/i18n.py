"""Everything the bot writes to a member, in the member's language (pt-BR or English).

Sentences live in one catalogue per language (`commands/locales/`), looked up by key; slash
command names, descriptions, options and choices are translated by `CatalogueTranslator`,
keyed by their English text. English is the fallback for every other locale.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from commands.locales import en, pt_br

ENGLISH = "en"
PORTUGUESE = "pt-BR"
MESSAGES: dict[str, dict[str, str]] = {ENGLISH: en.MESSAGES, PORTUGUESE: pt_br.MESSAGES}
# English command texts -> their translation, per Discord locale that has one.
COMMAND_TEXTS: dict[discord.Locale, dict[str, str]] = {
    discord.Locale.brazil_portuguese: pt_br.COMMAND_TEXTS
}


def language_of(locale: discord.Locale | str | None) -> str:
    return PORTUGUESE if str(locale or "").lower().startswith("pt") else ENGLISH


def text(locale: discord.Locale | str | None, key: str, **values: Any) -> str:
    """The sentence `key` in the language of `locale`, with `values` filled in."""
    template = MESSAGES[language_of(locale)].get(key) or MESSAGES[ENGLISH][key]
    return template.format(**values)


def for_interaction(interaction: discord.Interaction, key: str, **values: Any) -> str:
    return text(interaction.locale, key, **values)


class CatalogueTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return COMMAND_TEXTS.get(locale, {}).get(string.message)
