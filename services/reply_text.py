"""Turning a model's answer into Discord messages: cleaned of artefacts, split safely."""

from __future__ import annotations

import json
import re

DISCORD_LIMIT = 2000
_THINK_BLOCK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL | re.IGNORECASE)
_QUOTE_PAIRS = {'"': '"', "“": "”", "«": "»", "'": "'"}
_FENCE = re.compile(r"^```(\S*)")


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
