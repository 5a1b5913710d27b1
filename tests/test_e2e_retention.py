"""Retention end to end, on both stores: what is older than RETENTION_DAYS is gone once the
bot has started (its first purge runs at start), and so is a profile left with no message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.settings import Settings
from services.conversation.persona import Persona, PersonaProfiles
from services.store import StoredMessage
from tests.conftest import on_both_stores
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import ALICE, BRUNO, GUILD_ID, OFFTOPIC, eventually, running_bot, store_of

# An unwatched channel: the catch-up at start neither reads nor touches it.
CHANNEL = OFFTOPIC


def message(n: int, author: int, age: timedelta) -> StoredMessage:
    return StoredMessage(
        message_id=1_000 + n,
        guild_id=GUILD_ID,
        channel_id=CHANNEL,
        author_id=author,
        author_name=f"member {author}",
        content=f"written {age.days} days ago",
        created_at=datetime.now(UTC) - age,
    )


@on_both_stores
async def test_what_is_older_than_the_retention_is_gone_after_the_start(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    old = [message(n, ALICE.id, timedelta(days=40 - n)) for n in range(3)]
    recent = [message(10 + n, BRUNO.id, timedelta(days=20 - n)) for n in range(2)]
    async with store_of(settings) as store:
        for stored in old + recent:
            await store.add(stored, counted=False)
        profiles = PersonaProfiles(store)
        for member in (ALICE, BRUNO):
            await profiles.put(Persona(GUILD_ID, member.id, summary="terse", built_from=3))
    async with running_bot(fake_discord, settings, retention_days=30) as bot:
        messages = bot.services.store

        async def kept() -> list[int]:
            return [m.message_id for m in await messages.last_in_channel(CHANNEL, 100)]

        async def only_the_recent_ones() -> bool:
            return await kept() == [m.message_id for m in recent]

        await eventually(only_the_recent_ones)
        personas = bot.services.personas

        async def alices_profile_gone() -> bool:
            return await personas.stored(GUILD_ID, ALICE.id) is None

        await eventually(alices_profile_gone)
        assert await personas.stored(GUILD_ID, BRUNO.id) is not None
        assert await messages.last_by_author(GUILD_ID, ALICE.id, 10) == []
