"""The foundation, end to end: the real bot against the fake Discord."""

from __future__ import annotations

from app.settings import Settings
from services.store import StoredMessage
from tests.fakes.discord_server import FakeDiscord
from tests.harness import (
    ALICE,
    BOT,
    BRUNO,
    CAROL,
    GENERAL,
    GUILD_ID,
    OFFTOPIC,
    OTHER_BOT,
    RANDOM,
    eventually,
    running_bot,
)


async def test_stores_watched_channels_only(fake_discord: FakeDiscord, settings: Settings) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        store = bot.services.store
        posted = [
            await fake_discord.post_message(GENERAL, ALICE, "bom dia, pessoal"),
            await fake_discord.post_message(RANDOM, BRUNO, "morning!"),
            await fake_discord.post_message(GENERAL, CAROL, "hi all"),
        ]
        ignored = [
            await fake_discord.post_message(OFFTOPIC, ALICE, "not watched"),
            await fake_discord.post_message(GENERAL, OTHER_BOT, "beep"),
            await fake_discord.post_message(GENERAL, ALICE, "hook", webhook_id=77),
            await fake_discord.post_message(GENERAL, ALICE, "", message_type=6),  # a pin
            await fake_discord.post_message(0, ALICE, "a direct message", in_guild=False),
        ]
        # A last stored message: once it is there, everything before it was handled.
        sentinel = await fake_discord.post_message(GENERAL, BRUNO, "sentinel")

        async def general_has_sentinel() -> list[StoredMessage]:
            found = await store.last_in_channel(GENERAL, 50)
            return found if found and found[-1].message_id == int(sentinel["id"]) else []

        general = await eventually(general_has_sentinel)
        random_channel = await store.last_in_channel(RANDOM, 50)

    stored_ids = {m.message_id for m in general + random_channel}
    assert stored_ids == {int(p["id"]) for p in posted} | {int(sentinel["id"])}
    assert not stored_ids & {int(p["id"]) for p in ignored}
    first = general[0]
    assert (first.guild_id, first.channel_id, first.author_id) == (GUILD_ID, GENERAL, ALICE.id)
    assert first.author_name == "Alice"
    assert first.content == "bom dia, pessoal"
    assert not first.from_bot


async def test_edits_and_deletes_are_reflected(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        store = bot.services.store
        kept = await fake_discord.post_message(GENERAL, ALICE, "first version")
        gone = await fake_discord.post_message(GENERAL, BRUNO, "regrettable")

        async def both_stored() -> bool:
            return len(await store.last_in_channel(GENERAL, 10)) == 2

        await eventually(both_stored)
        await fake_discord.edit_message(int(kept["id"]), "second version")
        await fake_discord.delete_message(int(gone["id"]))

        async def reflected() -> list[StoredMessage]:
            found = await store.last_in_channel(GENERAL, 10)
            done = len(found) == 1 and found[0].content == "second version"
            return found if done else []

        [edited] = await eventually(reflected)
    assert edited.message_id == int(kept["id"])
    assert edited.edited_at is not None


async def test_the_bots_own_messages_are_stored_as_its_own(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        channel = bot.get_channel(GENERAL)
        assert channel is not None and hasattr(channel, "send")
        sent = await channel.send("hello from the bot")

        async def stored_own() -> list[StoredMessage]:
            return [m for m in await bot.services.store.last_in_channel(GENERAL, 10) if m.from_bot]

        [own] = await eventually(stored_own)
    assert own.message_id == sent.id
    assert own.author_id == BOT.id


async def test_a_restart_keeps_stored_messages(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        posted = await fake_discord.post_message(RANDOM, CAROL, "remember me")

        async def stored() -> bool:
            return bool(await bot.services.store.last_in_channel(RANDOM, 5))

        await eventually(stored)
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        [kept] = await bot.services.store.last_in_channel(RANDOM, 5)
    assert kept.message_id == int(posted["id"])


async def test_the_presence_line_names_the_watched_channels(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000):
        await fake_discord.wait_for_state(
            lambda: any(_activity_name(p) == "#general, #random" for p in fake_discord.presences)
        )


def _activity_name(presence: dict[str, object]) -> object:
    activities = presence.get("activities")
    return activities[0].get("name") if isinstance(activities, list) and activities else None
