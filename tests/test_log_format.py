"""LOG_FORMAT=json: one JSON object a line, with the guild and channel of the work, redacted."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from app.logging_setup import JsonFormatter, RedactSecrets
from app.settings import Secret, Settings
from services.background import BackgroundTasks
from tests.fakes.discord_server import FakeDiscord
from tests.harness import process_environment, run_app

SECRET = "json-secret-0123456789"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets([Secret(SECRET)]))
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_a_background_task_logs_its_guild_and_channel(json_lines: io.StringIO) -> None:
    log = logging.getLogger("tests.json")

    async def reply() -> None:
        log.warning("answering with %s", SECRET)
        try:
            raise RuntimeError(f"failed with {SECRET}")
        except RuntimeError:
            log.exception("reply failed")

    tasks = BackgroundTasks()
    await tasks.spawn(reply(), "reply", guild=11, channel=22, message=33)
    log.warning("outside any task")
    first, second, third = (json.loads(line) for line in json_lines.getvalue().splitlines())
    assert first["message"] == "answering with ***"
    assert first["level"] == "WARNING"
    assert first["logger"] == "tests.json"
    assert (first["guild_id"], first["channel_id"]) == ("11", "22")
    assert first["time"].endswith("+00:00")
    assert second["message"] == "reply failed"
    assert "RuntimeError: failed with ***" in second["exception"]
    assert "guild_id" not in third and "channel_id" not in third
    assert SECRET not in json_lines.getvalue()


async def test_the_process_logs_json_lines_and_keeps_its_one_line_errors(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    env = process_environment(settings, fake_discord, LOG_FORMAT="json", DISCORD_TOKEN=SECRET)
    process = await run_app(env)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    *logs, last = err.decode().strip().splitlines()
    assert process.returncode == 1
    assert last == "DISCORD_TOKEN was rejected by Discord: check it (see .env.example)."
    assert logs, "discord.py logs its login at INFO"
    for line in logs:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys()
    assert SECRET.encode() not in err
