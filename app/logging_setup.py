"""Logging is configured here, once, for the whole process."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from app.settings import Secret


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


def configure_logging(level: str, secrets: Iterable[Secret] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's gateway chatter is useful only when debugging it.
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLevelName(level)))
