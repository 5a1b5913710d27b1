"""Discord's own validation of what a bot sends, so that a test passing here would pass there.

Each check returns the nested ``errors`` object of Discord's 400 50035 "Invalid Form Body"
answer (empty when the body is valid), e.g. ``{"embeds": {"0": {"fields": {"8": {"value":
{"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 1024 or fewer in
length."}]}}}}}}``. The limits and the page of the developer documentation each one comes from
are next to it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from tests.fakes.discord.protocol import JSON, error

# https://discord.com/developers/docs/resources/message#create-message-jsonform-params
CONTENT_MAX = 2000
EMBEDS_MAX = 10
# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_NAME_MAX = 256
EMBEDS_TOTAL_MAX = 6000  # title, description, field names and values, footer, author name
# https://discord.com/developers/docs/components/reference#action-row
# https://discord.com/developers/docs/components/reference#button
# https://discord.com/developers/docs/components/reference#string-select
ACTION_ROWS_MAX = 5
BUTTONS_PER_ROW_MAX = 5
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
SELECT_OPTIONS_MAX = 25
SELECT_OPTION_TEXT_MAX = 100  # label, value, description
SELECT_PLACEHOLDER_MAX = 150
SELECT_VALUES_MAX = 25
# https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-naming
# https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-structure
COMMAND_NAME_MAX = 32
COMMAND_DESCRIPTION_MAX = 100
COMMAND_OPTIONS_MAX = 25
COMMAND_CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_STRING_VALUE_MAX = 100
COMMAND_TOTAL_MAX = 4000  # all names, descriptions and values of one command, localized too
# https://discord.com/developers/docs/interactions/application-commands#registering-a-command
CHAT_INPUT_COMMANDS_MAX = 100
CONTEXT_MENU_COMMANDS_MAX = 5  # each of user and message commands
# https://discord.com/developers/docs/reference#locales
# fmt: off
LOCALES = frozenset({
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl",
    "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi",
    "th", "zh-CN", "ja", "zh-TW", "ko",
})
# fmt: on
# https://discord.com/developers/docs/reference#uploading-files (10 MiB for a server without
# boosts; the interaction payload's `attachment_size_limit` says the same)
ATTACHMENT_SIZE_MAX = 10 * 1024 * 1024

_BUTTON = 2
_SELECTS = frozenset({3, 5, 6, 7, 8})
_LINK_STYLE = 5
_PREMIUM_STYLE = 6
_SUB_COMMAND, _SUB_COMMAND_GROUP = 1, 2
_STRING_OPTION = 3


class FormErrors:
    """Discord's nested ``errors`` object, filled path by path."""

    def __init__(self) -> None:
        self.tree: JSON = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_length(self, path: Sequence[str | int], limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def bad_length(self, path: Sequence[str | int], low: int, high: int) -> None:
        self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def check_text(self, path: Sequence[str | int], value: Any, high: int, *, low: int = 0) -> None:
        if value is None:
            return
        size = len(str(value))
        if low and not low <= size <= high:
            self.bad_length(path, low, high)
        elif size > high:
            self.max_length(path, high)

    def __bool__(self) -> bool:
        return bool(self.tree)


# -- messages -------------------------------------------------------------------------------


def message_errors(body: JSON) -> JSON:
    """What Discord refuses in a message body (create, edit, interaction answer, webhook)."""
    errors = FormErrors()
    errors.check_text(["content"], body.get("content"), CONTENT_MAX)
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_MAX:
        errors.max_length(["embeds"], EMBEDS_MAX)
    total = 0
    for index, embed in enumerate(embeds):
        total += _check_embed(errors, ["embeds", index], embed)
    if total > EMBEDS_TOTAL_MAX:
        errors.add(
            ["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {EMBEDS_TOTAL_MAX}",
        )
    _check_components(errors, body.get("components") or [], int(body.get("flags") or 0))
    return errors.tree


# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-modal
# https://discord.com/developers/docs/components/reference#text-input
MODAL_TITLE_MAX = 45
MODAL_ROWS_MAX = 5
TEXT_INPUT_LABEL_MAX = 45
TEXT_INPUT_PLACEHOLDER_MAX = 100
TEXT_INPUT_VALUE_MAX = 4000
TEXT_INPUT = 4


def modal_errors(body: JSON) -> JSON:
    """What Discord refuses in a modal (callback type 9): the title, the custom id, and one
    text input per action row, each within its limits (a pre-filled value too)."""
    errors = FormErrors()
    errors.check_text(["title"], body.get("title"), MODAL_TITLE_MAX, low=1)
    errors.check_text(["custom_id"], body.get("custom_id"), CUSTOM_ID_MAX, low=1)
    rows = body.get("components") or []
    if not 1 <= len(rows) <= MODAL_ROWS_MAX:
        errors.bad_length(["components"], 1, MODAL_ROWS_MAX)
    for r, row in enumerate(rows):
        items = row.get("components") or []
        if row.get("type") != 1 or len(items) != 1 or items[0].get("type") != TEXT_INPUT:
            errors.add(["components", r], "COMPONENT_LAYOUT_INVALID", "Invalid modal row")
            continue
        item = items[0]
        path: list[str | int] = ["components", r, "components", 0]
        errors.check_text([*path, "label"], item.get("label"), TEXT_INPUT_LABEL_MAX, low=1)
        errors.check_text([*path, "custom_id"], item.get("custom_id"), CUSTOM_ID_MAX, low=1)
        errors.check_text(
            [*path, "placeholder"], item.get("placeholder"), TEXT_INPUT_PLACEHOLDER_MAX
        )
        most = int(item.get("max_length") or TEXT_INPUT_VALUE_MAX)
        if not 1 <= most <= TEXT_INPUT_VALUE_MAX:
            errors.bad_length([*path, "max_length"], 1, TEXT_INPUT_VALUE_MAX)
        errors.check_text([*path, "value"], item.get("value"), min(most, TEXT_INPUT_VALUE_MAX))
    return errors.tree


def _check_embed(errors: FormErrors, path: list[str | int], embed: JSON) -> int:
    """Checks one embed; returns the characters it counts towards the 6,000 of a message."""
    title = embed.get("title") or ""
    description = embed.get("description") or ""
    footer = (embed.get("footer") or {}).get("text") or ""
    author = (embed.get("author") or {}).get("name") or ""
    errors.check_text([*path, "title"], title, EMBED_TITLE_MAX)
    errors.check_text([*path, "description"], description, EMBED_DESCRIPTION_MAX)
    errors.check_text([*path, "footer", "text"], footer, EMBED_FOOTER_MAX)
    errors.check_text([*path, "author", "name"], author, EMBED_AUTHOR_NAME_MAX)
    size = len(title) + len(description) + len(footer) + len(author)
    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS_MAX:
        errors.max_length([*path, "fields"], EMBED_FIELDS_MAX)
    for index, field in enumerate(fields):
        name, value = str(field.get("name") or ""), str(field.get("value") or "")
        # A field needs both a name and a value (discord.py sends "\u200b" for an empty one).
        errors.check_text([*path, "fields", index, "name"], name, EMBED_FIELD_NAME_MAX, low=1)
        errors.check_text([*path, "fields", index, "value"], value, EMBED_FIELD_VALUE_MAX, low=1)
        size += len(name) + len(value)
    return size


def _check_components(errors: FormErrors, rows: list[JSON], flags: int) -> None:
    if flags & (1 << 15):  # IS_COMPONENTS_V2: other limits (40 components); not used here
        return
    if len(rows) > ACTION_ROWS_MAX:
        errors.max_length(["components"], ACTION_ROWS_MAX)
    seen: set[str] = set()
    for r, row in enumerate(rows):
        path: list[str | int] = ["components", r]
        if row.get("type") != 1:
            errors.add([*path, "type"], "UNION_TYPE_CHOICES", "Value must be an action row.")
            continue
        children = row.get("components") or []
        kinds = {child.get("type") for child in children}
        if not children:
            errors.bad_length([*path, "components"], 1, BUTTONS_PER_ROW_MAX)
        elif kinds & _SELECTS and len(children) > 1:
            errors.add(
                [*path, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        elif len(children) > BUTTONS_PER_ROW_MAX:
            errors.max_length([*path, "components"], BUTTONS_PER_ROW_MAX)
        for c, child in enumerate(children):
            _check_component(errors, [*path, "components", c], child, seen)


def _check_component(
    errors: FormErrors, path: list[str | int], child: JSON, seen: set[str]
) -> None:
    custom_id = child.get("custom_id")
    if custom_id is not None:
        errors.check_text([*path, "custom_id"], custom_id, CUSTOM_ID_MAX, low=1)
        if custom_id in seen:
            errors.add(
                [*path, "custom_id"],
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen.add(custom_id)
    if child.get("type") == _BUTTON:
        style = child.get("style")
        errors.check_text([*path, "label"], child.get("label"), BUTTON_LABEL_MAX)
        if style == _LINK_STYLE and (custom_id is not None or not child.get("url")):
            errors.add([*path, "url"], "BUTTON_COMPONENT_INVALID_URL", "A link needs a url")
        elif style not in (_LINK_STYLE, _PREMIUM_STYLE) and custom_id is None:
            errors.add([*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
    elif child.get("type") in _SELECTS:
        errors.check_text([*path, "placeholder"], child.get("placeholder"), SELECT_PLACEHOLDER_MAX)
        for key in ("min_values", "max_values"):
            value = child.get(key)
            if value is not None and not 0 <= int(value) <= SELECT_VALUES_MAX:
                errors.add(
                    [*path, key],
                    "NUMBER_TYPE_MAX" if int(value) > SELECT_VALUES_MAX else "NUMBER_TYPE_MIN",
                    f"Int value should be between 0 and {SELECT_VALUES_MAX}.",
                )
        if child.get("type") == 3:  # a string select lists its options
            options = child.get("options") or []
            if not 1 <= len(options) <= SELECT_OPTIONS_MAX:
                errors.bad_length([*path, "options"], 1, SELECT_OPTIONS_MAX)
            for o, option in enumerate(options):
                for key in ("label", "value"):
                    errors.check_text(
                        [*path, "options", o, key], option.get(key), SELECT_OPTION_TEXT_MAX, low=1
                    )
                errors.check_text(
                    [*path, "options", o, "description"],
                    option.get("description"),
                    SELECT_OPTION_TEXT_MAX,
                )


def oversized_attachments(files: list[JSON]) -> bool:
    """Whether a file is past the upload limit (Discord answers 413, code 40005)."""
    return any(len(f["data"]) > ATTACHMENT_SIZE_MAX for f in files)


def refused_body(data: JSON, files: list[JSON]) -> web.Response | None:
    """Discord's answer to a message body past its limits (see ``limits.py``), or None."""
    if oversized_attachments(files):
        return error(413, 40005, "Request entity too large")
    errors = message_errors(data)
    if errors:
        return error(400, 50035, "Invalid Form Body", errors)
    return None


# -- application commands (bulk overwrite) ----------------------------------------------------


def _name_char_allowed(char: str) -> bool:
    # ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$ (Python's `re` has no \p classes)
    if char in "-_'":
        return True
    if unicodedata.category(char)[0] in "LN":
        return True
    return "\u0900" <= char <= "\u097f" or "\u0e00" <= char <= "\u0e7f"


def valid_chat_input_name(name: str) -> bool:
    """A slash command's or option's name: 1-32 characters of the pattern, lower case where
    the letter has a lower case form."""
    return (
        1 <= len(name) <= COMMAND_NAME_MAX
        and all(_name_char_allowed(c) for c in name)
        and name == name.lower()
    )


def commands_errors(commands: list[JSON]) -> JSON:
    """What Discord refuses in a bulk overwrite of application commands."""
    errors = FormErrors()
    chat_input = sum(1 for c in commands if c.get("type", 1) == 1)
    if chat_input > CHAT_INPUT_COMMANDS_MAX:
        errors.max_length([], CHAT_INPUT_COMMANDS_MAX)
    for kind in (2, 3):
        if sum(1 for c in commands if c.get("type", 1) == kind) > CONTEXT_MENU_COMMANDS_MAX:
            errors.max_length([], CONTEXT_MENU_COMMANDS_MAX)
    names: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        key = (str(command.get("name")), int(command.get("type", 1)))
        if key in names:
            errors.add(
                [index, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {key[0]}",
            )
        names.add(key)
        _check_command(errors, [index], command)
    return errors.tree


def _check_command(errors: FormErrors, path: list[str | int], command: JSON) -> None:
    chat_input = command.get("type", 1) == 1
    name = str(command.get("name") or "")
    if chat_input:
        _check_name(errors, [*path, "name"], name)
        _check_description(errors, [*path, "description"], command.get("description"))
    elif not 1 <= len(name) <= COMMAND_NAME_MAX:
        errors.bad_length([*path, "name"], 1, COMMAND_NAME_MAX)
    _check_localizations(errors, path, command, names_are_chat_input=chat_input)
    _check_options(errors, [*path, "options"], command.get("options") or [], depth=0)
    if _command_size(command) > COMMAND_TOTAL_MAX:
        errors.add(
            path,
            "APPLICATION_COMMAND_TOO_LARGE",
            f"Command exceeds maximum size ({COMMAND_TOTAL_MAX})",
        )


def _check_name(errors: FormErrors, path: list[str | int], name: str) -> None:
    if not 1 <= len(name) <= COMMAND_NAME_MAX:
        errors.bad_length(path, 1, COMMAND_NAME_MAX)
    elif not valid_chat_input_name(name):
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _check_description(errors: FormErrors, path: list[str | int], description: Any) -> None:
    if not 1 <= len(str(description or "")) <= COMMAND_DESCRIPTION_MAX:
        errors.bad_length(path, 1, COMMAND_DESCRIPTION_MAX)


def _check_localizations(
    errors: FormErrors, path: list[str | int], item: JSON, *, names_are_chat_input: bool
) -> None:
    for locale, name in (item.get("name_localizations") or {}).items():
        where = [*path, "name_localizations", locale]
        if locale not in LOCALES:
            errors.add(where, "LOCALE_INVALID", f"Invalid locale: {locale}")
        elif names_are_chat_input:
            _check_name(errors, where, str(name))
        elif not 1 <= len(str(name)) <= COMMAND_NAME_MAX:
            errors.bad_length(where, 1, COMMAND_NAME_MAX)
    for locale, text in (item.get("description_localizations") or {}).items():
        where = [*path, "description_localizations", locale]
        if locale not in LOCALES:
            errors.add(where, "LOCALE_INVALID", f"Invalid locale: {locale}")
        else:
            _check_description(errors, where, text)


def _check_options(
    errors: FormErrors, path: list[str | int], options: list[JSON], *, depth: int
) -> None:
    if len(options) > COMMAND_OPTIONS_MAX:
        errors.max_length(path, COMMAND_OPTIONS_MAX)
    seen: set[str] = set()
    optional_seen = False
    for index, option in enumerate(options):
        where: list[str | int] = [*path, index]
        name = str(option.get("name") or "")
        _check_name(errors, [*where, "name"], name)
        _check_description(errors, [*where, "description"], option.get("description"))
        _check_localizations(errors, where, option, names_are_chat_input=True)
        if name in seen:
            errors.add(
                [*where, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        seen.add(name)
        kind = option.get("type")
        if kind in (_SUB_COMMAND, _SUB_COMMAND_GROUP):
            if depth >= 2 or (kind == _SUB_COMMAND_GROUP and depth >= 1):
                errors.add(
                    [*where, "type"],
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups cannot be nested",
                )
            _check_options(
                errors, [*where, "options"], option.get("options") or [], depth=depth + 1
            )
            continue
        if option.get("required"):
            if optional_seen:
                errors.add(
                    [*where, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if len(choices) > COMMAND_CHOICES_MAX:
            errors.max_length([*where, "choices"], COMMAND_CHOICES_MAX)
        for c, choice in enumerate(choices):
            at: list[str | int] = [*where, "choices", c]
            errors.check_text([*at, "name"], choice.get("name"), CHOICE_NAME_MAX, low=1)
            for locale, text in (choice.get("name_localizations") or {}).items():
                if locale not in LOCALES:
                    errors.add([*at, "name_localizations", locale], "LOCALE_INVALID", "Invalid")
                else:
                    errors.check_text(
                        [*at, "name_localizations", locale], text, CHOICE_NAME_MAX, low=1
                    )
            if kind == _STRING_OPTION:
                errors.check_text(
                    [*at, "value"], choice.get("value"), CHOICE_STRING_VALUE_MAX, low=1
                )


def _command_size(item: JSON) -> int:
    """Characters of names, descriptions and choice values, with every localization."""
    size = len(str(item.get("name") or "")) + len(str(item.get("description") or ""))
    for key in ("name_localizations", "description_localizations"):
        size += sum(len(str(v)) for v in (item.get(key) or {}).values())
    for choice in item.get("choices") or []:
        size += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
        size += sum(len(str(v)) for v in (choice.get("name_localizations") or {}).values())
    return size + sum(_command_size(option) for option in item.get("options") or [])
