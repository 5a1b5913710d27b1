"""Answers for the fake Azure that follow the bot's two JSON schemas, like a real model would."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


# How the bot names the schema in its system message when it can only ask for a JSON object.
_NAMED_SCHEMA = re.compile(r'JSON schema named "(\w+)"')


def schema_name(body: JSON) -> str:
    """The name of the schema the request asks the answer to follow: the strict response
    format's, or (a `json_object` request) the one its system message spells out."""
    response_format = body["response_format"]
    if response_format["type"] == "json_schema":
        return str(response_format["json_schema"]["name"])
    named = _NAMED_SCHEMA.search(str(body["messages"][0]["content"]))
    assert named is not None, "a json_object request names its schema"
    return named[1]


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
