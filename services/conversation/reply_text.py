"""Turning a model's answer into Discord messages: cleaned of artefacts and of links it was
not shown, split safely."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from services.display_text import URL, trim_url

DISCORD_LIMIT = 2000
_THINK_BLOCK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL | re.IGNORECASE)
_QUOTE_PAIRS = {'"': '"', "“": "”", "«": "»", "'": "'"}
_FENCE = re.compile(r"^```(\S*)")
# Code blocks and inline code: Discord links nothing inside them.
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
# `[text](url)`, `[text](<url>)` and `[text](url "title")`: the text is kept, the link goes.
_MASKED_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?[^)\s>]*>?(?:\s+\"[^\"\n]*\")?\s*\)")
_INVITE = re.compile(  # with the space before it, so no double space is left
    r"[ \t]*<?(?:https?://)?(?:www\.|ptb\.|canary\.)?"
    r"(?:discord(?:app)?\.com/invite|discord\.gg|discord\.me|dsc\.gg)/[\w-]+/?>?",
    re.IGNORECASE,
)
_ANGLED_URL = re.compile(r"<(" + URL.pattern + r")>|" + URL.pattern)


def quote_as_data(value: object) -> str:
    """JSON for a prompt, with `<` escaped so quoted text can never close a <tag> block."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def clean_reply(text: str, bot_name: str) -> str:
    """Strip reasoning blocks, a leading "BotName:" and quotes wrapped around the whole text."""
    text = _THINK_BLOCK.sub("", text).strip()
    prefix = re.compile(rf"^\**{re.escape(bot_name)}\**\s*:\s*", re.IGNORECASE)
    text = prefix.sub("", text).strip()
    while len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
        inner = text[1:-1]
        if text[0] in inner:  # "a" and "b": the quotes belong to the text
            break
        text = inner.strip()
    return text


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Split at line breaks under `limit`; a code block cut in two is closed and reopened."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    fence: str | None = None  # the opening line of the code block we are in, if any

    def flush() -> None:
        nonlocal current, size
        if not current:
            return
        body = "\n".join(current)
        if fence is not None:
            body += "\n```"
        chunks.append(body)
        current = [fence] if fence is not None else []
        size = len(fence) + 1 if fence is not None else 0

    # Room for a closing fence that a cut may add.
    budget = limit - 4
    for line in text.split("\n"):
        pieces = [line[i : i + budget - 8] for i in range(0, len(line), budget - 8)] or [""]
        for piece in pieces:
            if current and size + len(piece) + 1 > budget:
                flush()
            current.append(piece)
            size += len(piece) + 1
        if match := _FENCE.match(line.strip()):
            fence = None if fence is not None else f"```{match.group(1)}"
    if current and any(part.strip() for part in current):
        chunks.append("\n".join(current))
    return [chunk for chunk in chunks if chunk.strip()]


def links_in(texts: Iterable[str]) -> frozenset[str]:
    """The URLs in `texts`, as `unlink_unseen` compares them."""
    return frozenset(_comparable(trim_url(m.group(0))) for t in texts for m in URL.finditer(t))


def _comparable(url: str) -> str:
    return url.rstrip("/")


def unlink_unseen(text: str, seen: frozenset[str]) -> str:
    """The model's text with invites and masked links removed, and every other link it was
    not shown (`seen`: `links_in` of its context) in inline code, which Discord never links.

    A prompt-injected message can ask the model to post a phishing link under the bot's name;
    this keeps what it says from being clickable unless a member already posted it.
    """
    pieces: list[str] = []
    position = 0
    for code in _CODE.finditer(text):
        pieces.append(_unlink_prose(text[position : code.start()], seen))
        pieces.append(code.group(0))
        position = code.end()
    pieces.append(_unlink_prose(text[position:], seen))
    return "".join(pieces).strip()


def _unlink_prose(prose: str, seen: frozenset[str]) -> str:
    prose = _MASKED_LINK.sub(lambda m: m.group(1), prose)
    prose = _INVITE.sub("", prose)

    def unlink(match: re.Match[str]) -> str:
        found = match.group(1) or match.group(0)
        url = trim_url(found)
        rest = "" if match.group(1) else found[len(url) :]
        if _comparable(url) in seen:
            return match.group(0)
        return f"`{url}`{rest}"

    return _ANGLED_URL.sub(unlink, prose)
