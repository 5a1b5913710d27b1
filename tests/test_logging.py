from __future__ import annotations

import logging

import pytest

from app.logging_setup import RedactSecrets
from app.settings import Secret


def test_secrets_are_redacted_from_messages_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.redaction")
    redact = RedactSecrets([Secret("token-abc-123456"), Secret("")])
    caplog.handler.addFilter(redact)
    try:
        logger.warning("connecting with %s", "token-abc-123456")
        try:
            raise RuntimeError("bad token-abc-123456")
        except RuntimeError:
            logger.exception("failed")
    finally:
        caplog.handler.removeFilter(redact)
    text = caplog.text
    assert "token-abc-123456" not in text
    assert "connecting with ***" in text
    assert "bad ***" in text
