"""Load: 50 members write 2,000 messages in a minute into two channels while music and
speech play. Every message is stored exactly once, exactly 400 decisions are made, and the
speech is heard over the music. The listener's latency, the messages per second and the
audio frames per second are reported, not asserted (the machines are noisy).

It runs once on each store (the embedded one and PostgreSQL), in real time (about a minute
each), so it is not part of `make test`: `make test-load` runs it, and CI runs both."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace

import pytest

from app.settings import Settings
from services.store import Arrival, StoredMessage
from tests.azure_brain import Brain, schema_name
from tests.conftest import Media, on_both_stores
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord, FakeUser
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.voice_client import connect_recording_voice
from tests.harness import ALICE, GENERAL, RANDOM, VOICE, chat_listener, eventually, running_bot
from tests.test_e2e_music import answer, command, voice_of
from tests.test_e2e_say import SPEECH, level

MESSAGES, MEMBERS, SECONDS = 2000, 50, 60.0


@pytest.mark.load
@on_both_stores
async def test_two_thousand_messages_in_a_minute_with_music_and_speech(
    store_kind: str,
    fake_discord: FakeDiscord,
    fake_azure: FakeAzureOpenAI,
    voice_settings: Settings,
    media: Media,
    fake_elevenlabs: FakeElevenLabs,
) -> None:
    brain = Brain()
    fake_azure.responder = brain
    members = [
        FakeUser(id=950_000_000_000_000_000 + n, username=f"member{n}") for n in range(MEMBERS)
    ]
    for member in members:
        fake_discord.add_guild_member(member)
    await fake_discord.join_voice(ALICE, VOICE)
    # A server this busy is one whose operator raised the Azure call limits: the test
    # measures the bot's throughput, not the limiter (tests/unit/test_azure_limits.py does).
    settings = replace(
        voice_settings, azure_calls_per_minute_per_server=10_000, azure_calls_per_minute=10_000
    )
    async with running_bot(fake_discord, settings, connect_voice=connect_recording_voice) as bot:
        store = bot.services.store
        latencies: list[float] = []
        store_add = store.add

        async def timed_add(message: StoredMessage, *, counted: bool) -> Arrival:
            # Measured from the message's creation (its snowflake time) to durable storage.
            arrival = await store_add(message, counted=counted)
            latencies.append(time.time() - message.created_at.timestamp())
            return arrival

        store.add = timed_add  # type: ignore[method-assign]
        for _ in range(4):  # 80 s of music queued: it plays through the whole minute
            await answer(await command(fake_discord, "play", query=media.long_song))
        voice = voice_of(bot)
        frames_at_start = len(voice.frames)

        started = time.monotonic()
        posted: list[int] = []
        speech_at = 0
        for n in range(MESSAGES):
            # Paced to 2,000 a minute; members in turn, so nobody floods (40 a minute each).
            await asyncio.sleep(max(0.0, started + n * SECONDS / MESSAGES - time.monotonic()))
            channel = (GENERAL, RANDOM)[n % 2]
            message = await fake_discord.post_message(
                channel, members[n % MEMBERS], f"load message {n}"
            )
            posted.append(int(message["id"]))
            if n == MESSAGES // 2:
                speech_at = len(voice.frames)
                await answer(await command(fake_discord, "say", text="Still here, everyone!"))
        sending = time.monotonic() - started

        async def all_decided() -> bool:
            return len(chat_listener(bot).decisions) >= MESSAGES // 5

        await eventually(all_decided, timeout=60)
        decided = time.monotonic() - started
        stored = [
            m
            for channel in (GENERAL, RANDOM)
            for m in await store.last_in_channel(channel, 10 * MESSAGES)
        ]
        decisions = list(chat_listener(bot).decisions)
        frames = len(voice.frames) - frames_at_start
        heard_speech = voice.frames[speech_at : speech_at + 150]

    human = sorted(m.message_id for m in stored if not m.from_bot)
    assert human == sorted(posted)  # every message stored, and exactly once
    assert len(decisions) == MESSAGES // 5
    outcomes = Counter(f"{d.outcome}: {d.reason}" for d in decisions)
    assert outcomes == Counter({"reply: test brain": MESSAGES // 5}), outcomes
    decision_calls = [r for r in fake_azure.requests if schema_name(r["json"]) == "decision"]
    assert len(decision_calls) == MESSAGES // 5
    assert level(heard_speech, SPEECH) > 0.05  # the speech was heard over the music
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(
        f"\nload ({store_kind} store): {MESSAGES} messages in {sending:.1f} s "
        f"({MESSAGES / sending:.1f} msg/s offered), all {len(decisions)} decisions made "
        f"{decided:.1f} s after the first message ({MESSAGES / decided:.1f} msg/s end to end); "
        f"listener latency (creation to durable) p50 {p50 * 1e3:.1f} ms, "
        f"p99 {p99 * 1e3:.1f} ms, max {latencies[-1] * 1e3:.1f} ms; "
        f"music {frames / sending:.1f} frames/s (50 is real time)"
    )
