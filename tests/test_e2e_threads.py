"""Threads and forum posts end to end: each watched one is a conversation of its own."""

from __future__ import annotations

from typing import Any

from app.bot import AzureBot
from app.settings import Settings
from tests.azure_brain import Brain, quoted_chat
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord
from tests.harness import (
    ALICE,
    BRUNO,
    CAROL,
    FORUM,
    GENERAL,
    GUILD_ID,
    OFFTOPIC,
    RANDOM,
    chat_listener,
    eventually,
    post_many,
    running_bot,
    sent_after,
    stored_human_ids,
)

JSON = dict[str, Any]


async def _has(bot: AzureBot, channel_id: int, messages: list[JSON]) -> bool:
    return await stored_human_ids(bot, channel_id) == [int(m["id"]) for m in messages]


async def test_a_thread_of_a_watched_channel_has_its_own_beat_and_context(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    brain = Brain()
    fake_azure.responder = brain
    async with running_bot(fake_discord, settings) as bot:
        outside = await post_many(fake_discord, GENERAL, [CAROL], 3, "in general")
        thread = await fake_discord.start_thread(GENERAL, ALICE, "weekend plans")
        tid = int(thread["id"])
        inside = await post_many(fake_discord, tid, [ALICE, BRUNO], 5, "in the thread")
        [reply] = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, tid, inside[0])
        )
        [stored] = (await bot.services.store.last_in_channel(tid, 10))[:1]
        counts = (
            await bot.services.store.channel_count(tid),
            await bot.services.store.channel_count(GENERAL),
        )
        [decision] = chat_listener(bot).decisions
    assert reply["channel_id"] == thread["id"]
    assert reply["message_reference"]["message_id"] == inside[-1]["id"]
    assert counts == (5, 3)  # a beat of its own
    assert [line["text"] for line in quoted_chat(brain.decisions[0])] == [
        f"in the thread {n}" for n in range(1, 6)
    ]
    assert (stored.guild_id, stored.channel_id) == (GUILD_ID, tid)  # forget and retention
    assert decision.trigger.channel_id == tid
    assert int(outside[-1]["id"]) not in decision.context_ids
    await fake_discord.delete_thread(tid)


async def test_a_private_thread_the_bot_is_in_is_watched_and_a_thread_elsewhere_is_not(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        private = await fake_discord.start_thread(RANDOM, BRUNO, "just us", private=True)
        elsewhere = await fake_discord.start_thread(OFFTOPIC, ALICE, "unwatched")
        ignored = await fake_discord.post_message(int(elsewhere["id"]), ALICE, "not heard")
        kept = await fake_discord.post_message(int(private["id"]), BRUNO, "heard")
        await eventually(lambda: _has(bot, int(private["id"]), [kept]))
        # Taken (and ignored) before the later message was stored.
        assert int(ignored["id"]) not in await stored_human_ids(bot, int(elsewhere["id"]))
    async with running_bot(fake_discord, settings, reply_every=1000, watch_threads=False) as bot:
        unwatched = await fake_discord.post_message(int(private["id"]), BRUNO, "not heard now")
        sentinel = await fake_discord.post_message(RANDOM, BRUNO, "the channel still is")
        await eventually(lambda: _has(bot, RANDOM, [sentinel]))
        assert int(unwatched["id"]) not in await stored_human_ids(bot, int(private["id"]))
    for thread in (private, elsewhere):
        await fake_discord.delete_thread(int(thread["id"]))


async def test_a_post_in_a_watched_forum_is_a_conversation(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    fake_azure.responder = Brain()
    watched = frozenset({GENERAL, RANDOM, FORUM})
    async with running_bot(fake_discord, settings, channel_ids=watched) as bot:
        post, starter = await fake_discord.post_in_forum(
            FORUM, CAROL, "Ideas for the meetup", "what should we do?"
        )
        pid = int(post["id"])
        answers = await post_many(fake_discord, pid, [ALICE, BRUNO], 4, "an idea")
        [reply] = await fake_discord.wait_for_sent(
            lambda m: m in sent_after(fake_discord, pid, starter)
        )
        stored = await stored_human_ids(bot, pid)
    assert int(starter["id"]) == pid  # the starter message has the post's id
    assert stored == [pid, *(int(a["id"]) for a in answers)]
    assert reply["message_reference"]["message_id"] == answers[-1]["id"]
    await fake_discord.delete_thread(pid)


async def test_a_deleted_thread_is_forgotten_and_an_archived_one_is_kept(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        archived = await fake_discord.start_thread(GENERAL, ALICE, "to archive")
        deleted = await fake_discord.start_thread(GENERAL, BRUNO, "to delete")
        kept = await post_many(fake_discord, int(archived["id"]), [ALICE], 2, "archived")
        gone = await post_many(fake_discord, int(deleted["id"]), [BRUNO], 2, "deleted")
        await eventually(lambda: _has(bot, int(archived["id"]), kept))
        await eventually(lambda: _has(bot, int(deleted["id"]), gone))
        await fake_discord.archive_thread(int(archived["id"]))
        await fake_discord.delete_thread(int(deleted["id"]))
        await eventually(lambda: _has(bot, int(deleted["id"]), []))
        assert await stored_human_ids(bot, int(archived["id"])) == [int(m["id"]) for m in kept]
        assert bot.get_guild(GUILD_ID).get_thread(int(archived["id"])) is None  # type: ignore[union-attr]


async def test_an_active_thread_is_caught_up_after_a_restart(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        thread = await fake_discord.start_thread(RANDOM, CAROL, "caught up")
        tid = int(thread["id"])
        before = await post_many(fake_discord, tid, [CAROL], 2, "thread before")
        await eventually(lambda: _has(bot, tid, before))
    away = await post_many(fake_discord, tid, [ALICE], 3, "thread away")
    new_thread = await fake_discord.start_thread(RANDOM, BRUNO, "started while away")
    new_tid = int(new_thread["id"])
    started = await post_many(fake_discord, new_tid, [BRUNO], 2, "new thread away")
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        await eventually(lambda: _has(bot, tid, before + away))
        await eventually(lambda: _has(bot, new_tid, started))
        count = await bot.services.store.channel_count(tid)
    assert count == 5
    for finished in (tid, new_tid):
        await fake_discord.delete_thread(finished)
