"""Catch-up end to end: what is said while the bot is away is stored after it comes back."""

from __future__ import annotations

from typing import Any

import pytest

from app.bot import AzureBot
from app.settings import Settings
from tests.azure_brain import Brain
from tests.conftest import on_both_stores
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import (
    ALICE,
    BRUNO,
    CAROL,
    GENERAL,
    GUILD_ID,
    OTHER_BOT,
    RANDOM,
    chat_listener,
    eventually,
    post_many,
    running_bot,
    sent_after,
    stored_human_ids,
)

JSON = dict[str, Any]


def ids(messages: list[JSON]) -> list[int]:
    return [int(m["id"]) for m in messages]


async def test_messages_posted_while_the_bot_was_stopped_are_stored_counted_and_answered_once(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings) as bot:
        before = await post_many(fake_discord, GENERAL, [ALICE, BRUNO], 3, "before")
        await eventually(lambda: _has(bot, GENERAL, before))
    # Away: three beats fall in GENERAL (counts 5, 10, 15); RANDOM, never heard, gets one.
    away = await post_many(fake_discord, GENERAL, [ALICE, BRUNO, CAROL], 12, "away")
    await fake_discord.post_message(GENERAL, OTHER_BOT, "beep")  # other bots stay noise
    await fake_discord.post_message(GENERAL, ALICE, "hook", webhook_id=77)
    elsewhere = await fake_discord.post_message(RANDOM, CAROL, "meanwhile in random")
    async with running_bot(fake_discord, settings) as bot:
        await eventually(lambda: _has(bot, GENERAL, before + away))
        [reply] = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, GENERAL, before[0])
        )
        await bot.services.tasks.wait_idle()
        count = await bot.services.store.channel_count(GENERAL)
        random_ids = await stored_human_ids(bot, RANDOM)
        decisions = list(chat_listener(bot).decisions)
    assert count == 15
    assert random_ids == [int(elsewhere["id"])]
    # One late answer, to the last beat; the two older beats are skipped, not answered late.
    assert reply["message_reference"]["message_id"] == away[-1]["id"]
    assert sent_after(fake_discord, GENERAL, before[0]) == [reply]
    assert [(d.outcome, d.trigger.count) for d in decisions] == [
        ("skipped", 5),
        ("skipped", 10),
        ("reply", 15),
    ]
    assert all("caught up" in d.reason for d in decisions[:2])


@on_both_stores
async def test_an_opted_out_member_s_last_messages_are_not_counted_again_after_a_restart(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    """Counted but not kept, they come after the last stored message: the catch-up reads them
    back, and the store must know they were counted."""
    fake_azure.responder = Brain()
    async with running_bot(fake_discord, settings) as bot:
        await bot.services.privacy.opt_out(GUILD_ID, CAROL.id)
        before = await post_many(fake_discord, GENERAL, [ALICE], 2, "before")
        await eventually(lambda: _has(bot, GENERAL, before))
        await post_many(fake_discord, GENERAL, [CAROL], 2, "private")
        await eventually(lambda: _count_is(bot, GENERAL, 4))
    async with running_bot(fake_discord, settings) as bot:
        away = await post_many(fake_discord, GENERAL, [BRUNO], 1, "after")
        await eventually(lambda: _has(bot, GENERAL, before + away))
        await bot.services.tasks.wait_idle()  # the catch-up has read the private ones back
        assert await bot.services.store.channel_count(GENERAL) == 5


async def _count_is(bot: AzureBot, channel_id: int, count: int) -> bool:
    return await bot.services.store.channel_count(channel_id) == count


async def _has(bot: AzureBot, channel_id: int, messages: list[JSON]) -> bool:
    return await stored_human_ids(bot, channel_id) == ids(messages)


async def test_a_session_that_cannot_resume_catches_up_its_gap(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        before = await post_many(fake_discord, RANDOM, [ALICE], 2, "invalid before")
        await eventually(lambda: _has(bot, RANDOM, before))
        identified = fake_discord.identify_count
        await fake_discord.send_invalid_session(resumable=False)
        # discord.py waits 5 s before identifying again; Discord delivers these to nobody.
        gap = await post_many(fake_discord, RANDOM, [BRUNO], 3, "invalid gap")
        await fake_discord.wait_for_state(
            lambda: fake_discord.identify_count > identified and fake_discord.connected,
            timeout=15,
        )
        await eventually(lambda: _has(bot, RANDOM, before + gap))
        count = await bot.services.store.channel_count(RANDOM)
    assert count == 5


async def test_a_gap_larger_than_the_limit_keeps_its_newest_messages(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        before = await post_many(fake_discord, GENERAL, [ALICE], 3, "limited before")
        await eventually(lambda: _has(bot, GENERAL, before))
    away = await post_many(fake_discord, GENERAL, [BRUNO, CAROL], 25, "limited away")
    async with running_bot(fake_discord, settings, reply_every=1000, catchup_messages=10) as bot:
        await eventually(lambda: _has(bot, GENERAL, before + away[-10:]))
        count = await bot.services.store.channel_count(GENERAL)
    assert count == 13


async def test_an_edit_and_a_delete_made_while_away_are_reflected(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        kept, edited, gone = await post_many(fake_discord, GENERAL, [ALICE], 3, "reconcile")
        await eventually(lambda: _has(bot, GENERAL, [kept, edited, gone]))
    await fake_discord.edit_message(int(edited["id"]), "reconcile 2, better said")
    await fake_discord.delete_message(int(gone["id"]))
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        await eventually(lambda: _has(bot, GENERAL, [kept, edited]))
        stored = await bot.services.store.last_in_channel(GENERAL, 10)
    assert [m.content for m in stored] == ["reconcile 1", "reconcile 2, better said"]
    assert stored[1].edited_at is not None


async def test_a_message_arriving_live_during_the_catch_up_is_counted_once(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        before = await post_many(fake_discord, GENERAL, [ALICE], 2, "overlap before")
        await eventually(lambda: _has(bot, GENERAL, before))
    away = await post_many(fake_discord, GENERAL, [BRUNO], 2, "overlap away")
    history = fake_discord.hold("GET", f"/channels/{GENERAL}/messages")
    try:
        async with running_bot(fake_discord, settings, reply_every=1000) as bot:
            await history.wait_arrived()  # the catch-up waits on Discord's answer
            live = await fake_discord.post_message(GENERAL, CAROL, "overlap live")
            await eventually(lambda: _stored_last(bot, GENERAL, live))
            history.release()  # the history it gets now has the live message too
            await eventually(lambda: _has(bot, GENERAL, [*before, *away, live]))
            await bot.services.tasks.wait_idle()
            count = await bot.services.store.channel_count(GENERAL)
    finally:
        history.release()
    assert count == 5


async def _stored_last(bot: AzureBot, channel_id: int, message: JSON) -> bool:
    last = await bot.services.store.last_in_channel(channel_id, 1)
    return bool(last) and last[0].message_id == int(message["id"])


async def test_a_message_discord_py_cannot_read_is_skipped_and_the_rest_are_stored(
    fake_discord: FakeDiscord, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A Discord-compatible server sends `"thread": null`, on which discord.py raises."""
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        before = await post_many(fake_discord, GENERAL, [ALICE], 2, "odd before")
        await eventually(lambda: _has(bot, GENERAL, before))
    away = await post_many(fake_discord, GENERAL, [BRUNO, CAROL], 4, "odd away")
    elsewhere = await post_many(fake_discord, RANDOM, [CAROL], 1, "odd elsewhere")
    odd = int(away[1]["id"])
    with fake_discord.foreign() as quirks:
        quirks.null_thread_in_history = {odd}
        async with running_bot(fake_discord, settings, reply_every=1000) as bot:
            readable = [m for m in away if int(m["id"]) != odd]
            await eventually(lambda: _has(bot, GENERAL, before + readable))
            await eventually(lambda: _has(bot, RANDOM, elsewhere))
            await bot.services.tasks.wait_idle()
            count = await bot.services.store.channel_count(GENERAL)
    assert count == 5
    [skipped] = [r for r in caplog.records if "skipped, it could not be read" in r.getMessage()]
    assert skipped.getMessage() == (
        f"catch-up of channel {GENERAL}: message {odd} skipped, it could not be read "
        "(TypeError: 'NoneType' object is not subscriptable)"
    )


async def test_a_channel_whose_catch_up_fails_does_not_stop_the_next(
    fake_discord: FakeDiscord, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        before = await post_many(fake_discord, GENERAL, [ALICE], 1, "broken before")
        earlier = await post_many(fake_discord, RANDOM, [ALICE], 1, "broken random before")
        await eventually(lambda: _has(bot, GENERAL, before))
        await eventually(lambda: _has(bot, RANDOM, earlier))
    await post_many(fake_discord, GENERAL, [BRUNO], 2, "broken away")
    away = await post_many(fake_discord, RANDOM, [CAROL], 2, "broken random away")
    # GENERAL's history comes back as something that is not a list of messages at all.
    fake_discord.fail_next(
        "GET", f"/channels/{GENERAL}/messages", status=200, body={"unexpected": True}
    )
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        await eventually(lambda: _has(bot, RANDOM, earlier + away))
        await bot.services.tasks.wait_idle()
        general = await stored_human_ids(bot, GENERAL)
    assert general == ids(before)
    [failed] = [r for r in caplog.records if r.getMessage().startswith("catch-up of channel")]
    assert failed.getMessage() == f"catch-up of channel {GENERAL} failed"
    assert failed.exc_info is not None
