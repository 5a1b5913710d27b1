"""Logging is configured here, once, for the whole process.

`LOG_FORMAT=text` (the default) writes one readable line per record; `json` one JSON object
per line (`time`, `level`, `logger`, `message`, `guild_id` and `channel_id` when the work is
about one, `exception` with its traceback) for a log collector. Secrets, and the query strings
of URLs (a member's link may carry `?api_key=...`), are redacted in both, before either
formatter sees the record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from app.settings import Secret
from services import log_context
from services.display_text import URL, redact_urls


class RedactSecrets(logging.Filter):
    """Replaces any configured secret that reaches a log line, whoever logged it."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        super().__init__()
        self._values = [s.reveal() for s in secrets if len(s.reveal()) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._values:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        changed = False
        for value in self._values:
            if value in message:
                message = message.replace(value, "***")
                changed = True
            if record.exc_text and value in record.exc_text:
                record.exc_text = record.exc_text.replace(value, "***")
        if changed:
            record.msg, record.args = message, None
        return True


class RedactUrlQueries(logging.Filter):
    """Cuts the query string (but a video id), fragment and password from every URL logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if URL.search(message):
            record.msg, record.args = redact_urls(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and URL.search(record.exc_text):
            record.exc_text = redact_urls(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in (
            ("guild_id", log_context.guild_id),
            ("channel_id", log_context.channel_id),
        ):
            value = getattr(record, name, None) or var.get()
            if value is not None:
                entry[name] = str(value)  # snowflakes exceed what JSON numbers keep exactly
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, secrets: Iterable[Secret] = (), log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    handler.addFilter(RedactSecrets(secrets))
    handler.addFilter(RedactUrlQueries())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's gateway chatter is useful only when debugging it.
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLevelName(level)))
    # Pillow logs every chunk of every image it decodes at DEBUG: never useful here.
    logging.getLogger("PIL").setLevel(max(logging.INFO, logging.getLevelName(level)))
