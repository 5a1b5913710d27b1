"""Answers for the fake Azure that follow the bot's two JSON schemas, like a real model would."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


def schema_name(body: JSON) -> str:
    return str(body["response_format"]["json_schema"]["name"])


def user_text(body: JSON) -> str:
    """The request's user text: the content, or its first text part when images follow."""
    content = body["messages"][1]["content"]
    if isinstance(content, list):
        return str(content[0]["text"])
    return str(content)


def quoted_chat(body: JSON) -> list[JSON]:
    """The chat lines a decision request quotes, parsed back from its <chat> block."""
    user = user_text(body)
    lines = user.split("<chat>\n", 1)[1].split("\n</chat>", 1)[0].splitlines()
    return [json.loads(line) for line in lines]


def quoted_messages(body: JSON) -> list[str]:
    """The member messages a persona request quotes."""
    user = body["messages"][1]["content"]
    return list(json.loads(user.split("<messages>\n", 1)[1].rsplit("\n</messages>", 1)[0]))


@dataclass
class Brain:
    """Replies to every decision (echoing the last line) and describes everyone as playful."""

    reply: Callable[[list[JSON]], str | None] = lambda chat: f"re: {chat[-1]['text']}"
    persona_style: str = "playful"
    persona_tone: str = "cheerful"
    persona_language: str = "pt-BR"
    decisions: list[JSON] = field(default_factory=list)
    personas: list[JSON] = field(default_factory=list)

    def __call__(self, body: JSON) -> str:
        if schema_name(body) == "persona":
            self.personas.append(body)
            return json.dumps(
                {
                    # Names the newest quoted message, so tests can tell whose profile it is.
                    "summary": f"Short, cheerful messages like {quoted_messages(body)[-1]!r}.",
                    "tone": self.persona_tone,
                    "formality": "casual",
                    "humour": "some",
                    "verbosity": "terse",
                    "language": self.persona_language,
                    "reply_style": self.persona_style,
                    "temperature": 1.0,
                }
            )
        self.decisions.append(body)
        text = self.reply(quoted_chat(body))
        return json.dumps(
            {
                "reply": text is not None,
                "style": "playful" if text is not None else "none",
                "text": text or "",
                "reason": "test brain",
            }
        )
