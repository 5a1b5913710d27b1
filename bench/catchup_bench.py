"""`python -m bench.catchup_bench [--messages 500]`: how long a catch-up takes.

The real bot, with the embedded store in a temporary data directory, against the loopback
fake Discord and fake Azure: a few messages are stored, the bot stops, `--messages` are
posted in the channel while it is away, and it starts again. Reports the catch-up's own time
(the history read in pages of 100, every message taken through the reply policy and stored
durably), the time from the start call until the last one is stored, and the REST calls.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from tests.azure_brain import Brain
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.harness import (
    ALICE,
    AZURE_KEY,
    BRUNO,
    CAROL,
    GENERAL,
    eventually,
    new_fake_discord,
    post_many,
    running_bot,
    settings_for,
)


class _CatchUpTimes(logging.Handler):
    """Keeps the catch-up's own timing line ("catch-up of guild …: n channel(s) in t s")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: list[float] = []
        self.split: tuple[float, float] = (0.0, 0.0)  # reading the history, taking it

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record.args, tuple):
            return
        message = record.getMessage()
        if message.startswith("catch-up of guild"):
            self.seconds.append(float(str(record.args[-1])))
        elif message.startswith(f"caught up channel {GENERAL}:"):
            self.split = (float(str(record.args[-2])), float(str(record.args[-1])))


async def run(count: int) -> None:
    fake_discord = new_fake_discord()
    fake_azure = FakeAzureOpenAI(api_key=AZURE_KEY, deployment="gpt-test")
    fake_azure.responder = Brain()
    times = _CatchUpTimes()
    logging.getLogger("commands.catchup").addHandler(times)
    logging.getLogger("commands.catchup").setLevel(logging.INFO)
    await fake_discord.start()
    await fake_azure.start()
    try:
        with fake_discord.install(), tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(fake_discord, fake_azure, Path(tmp) / "data")
            async with running_bot(fake_discord, settings) as bot:
                before = await post_many(fake_discord, GENERAL, [ALICE], 3, "before")

                async def stored_before() -> bool:
                    return len(await bot.services.store.last_in_channel(GENERAL, 10)) == 3

                await eventually(stored_before)
            await post_many(fake_discord, GENERAL, [ALICE, BRUNO, CAROL], count, "away")
            fake_discord.reset()
            started = time.perf_counter()
            async with running_bot(fake_discord, settings) as bot:

                async def stored_all() -> bool:
                    found = await bot.services.store.last_in_channel(GENERAL, count + 10)
                    return len(found) >= len(before) + count

                await eventually(stored_all, timeout=120)
                until_stored = time.perf_counter() - started
                await eventually(lambda: _logged(times), timeout=30)
                pages = [
                    r
                    for r in fake_discord.requests
                    if r.method == "GET" and r.path == f"/channels/{GENERAL}/messages"
                ]
                counted = await bot.services.store.channel_count(GENERAL)
                await bot.services.tasks.wait_idle()  # its one late answer, if any
    finally:
        await fake_azure.stop()
        await fake_discord.stop()
    print(f"catch-up of {count} messages in one channel (counted to {counted}):")
    print(f"  the catch-up itself:           {times.seconds[-1] * 1e3:8.0f} ms")
    print(f"    reading the history:         {times.split[0] * 1e3:8.0f} ms")
    print(f"    taking it (policy + store):  {times.split[1] * 1e3:8.0f} ms")
    print(f"  start call to the last stored: {until_stored * 1e3:8.0f} ms")
    print(f"  history requests:              {len(pages):8d}")


async def _logged(times: _CatchUpTimes) -> bool:
    return bool(times.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.messages))


if __name__ == "__main__":
    main()
