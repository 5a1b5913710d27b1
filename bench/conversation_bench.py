"""`python -m bench.conversation_bench`: the passive conversation's cost and overhead.

Replays 1,000 messages from 10 members (random authors, one every two seconds: a busy
channel) through the real service path (store, reply policy, personas, conversation, the
Azure adapter with the openai SDK) against the loopback fake Azure, and reports:
Azure calls per 1,000 messages, the tokens they spent per 1,000 messages (as the token
accounting stored them: prompt, completion, cached), prompt tokens per decision (the usage
field), and our own time per trigger with the Azure round trip taken out.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.background import BackgroundTasks
from services.conversation.conversation import ConversationService
from services.conversation.persona import PersonaProfiles, PersonaService
from services.conversation.reply_policy import FloodGuard, MessageFacts, ReplyPolicy, Trigger
from services.conversation.temperature import GuildSettingsRepository, TemperatureSettings
from services.cooldown import Cooldown
from services.llm import ChatCompletionsModel, JsonAnswer, JsonRequest, ModelServer
from services.privacy.privacy import PrivacyChoices, PrivacyService, ReplyLog
from services.servers.token_usage import TokenAccounting
from services.store import SqliteStore, StoredMessage
from tests.azure_brain import Brain
from tests.fakes.azure_openai import FakeAzureOpenAI

WORDS = [
    "bom",
    "dia",
    "pessoal",
    "alguém",
    "viu",
    "o",
    "jogo",
    "ontem?",
    "que",
    "partida!",
    "hello",
    "everyone,",
    "anyone",
    "tried",
    "the",
    "new",
    "patch?",
    "lol",
    "kkkk",
    "acho",
    "que",
    "sim,",
    "mas",
    "o",
    "servidor",
    "caiu",
    "duas",
    "vezes.",
    "tomorrow",
    "at",
    "8pm?",
    "combinado",
    "🎉",
    "link",
    "https://example.com/notes",
]


@dataclass
class TimedModel:
    """The real Azure adapter, timed, so the round trip can be taken out of our own time."""

    model: ChatCompletionsModel
    spent: float = 0.0
    calls: int = 0
    prompt_tokens: list[int] = field(default_factory=list)

    @property
    def accepts_temperature(self) -> bool:
        return self.model.accepts_temperature

    async def complete_json(self, request: JsonRequest) -> JsonAnswer:
        started = time.perf_counter()
        try:
            answer = await self.model.complete_json(request)
        finally:
            self.spent += time.perf_counter() - started
            self.calls += 1
        if request.schema_name == "decision":
            self.prompt_tokens.append(answer.prompt_tokens)
        return answer


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def replay(messages: int, members: int, persona_min_minutes: int, seed: int) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    now = start

    def clock() -> datetime:
        return now

    azure = FakeAzureOpenAI(api_key="bench-key", deployment="gpt-bench")
    azure.responder = Brain()
    await azure.start()
    with tempfile.TemporaryDirectory() as data_dir:
        store = SqliteStore(Path(data_dir))
        model = TimedModel(
            ChatCompletionsModel(
                ModelServer(azure.endpoint, "bench-key", api_version="2024-10-21"),
                model="gpt-bench",
                timeout=10,
            )
        )
        tasks = BackgroundTasks()
        usage = TokenAccounting(store, tasks, clock=clock)
        personas = PersonaService(
            store=store,
            profiles=PersonaProfiles(store),
            model=model,
            history=30,
            refresh_after=10,
            min_interval=timedelta(minutes=persona_min_minutes),
            tasks=tasks,
            clock=clock,
            usage=usage,
        )
        conversation = ConversationService(
            store=store,
            model=model,
            personas=personas.get,
            temperature=TemperatureSettings(GuildSettingsRepository(store)).effective,
            quotable=lambda guild, member: True,
            context_messages=5,
            usage=usage,
        )
        privacy = PrivacyService(
            store=store,
            choices=PrivacyChoices(store),
            replies=ReplyLog(store),
            personas=personas,
            usage=usage,
            consent_mode="opt-out",
            retention=timedelta(days=30),
        )
        await privacy.load()
        # No flood guard or mention cooldown in the way: the bench's pace is not a flood.
        policy = ReplyPolicy(
            store=store,
            privacy=privacy,
            every=5,
            mention_cooldown=Cooldown(0),
            flood=FloodGuard(messages=10**9),
        )
        own_times: list[float] = []
        for n in range(messages):
            now = start + timedelta(seconds=2 * n)
            author = rng.randrange(members)
            text = " ".join(rng.choices(WORDS, k=rng.randint(3, 25)))
            message = StoredMessage(10**6 + n, 1, 1, 100 + author, f"m{author}", text, now)
            step = await policy.take(MessageFacts(message, addresses_bot=False))
            if not isinstance(step, Trigger):
                continue
            spent_before = model.spent
            started = time.perf_counter()
            await conversation.decide(step, bot_name="Aria")
            own_times.append(time.perf_counter() - started - (model.spent - spent_before))
        # Background persona rebuilds started by the last triggers count too.
        await personas.wait_idle()
        await usage.wait_idle()
        spent = await usage.since(1, start.date())
        await tasks.close()
        await store.close()
        await model.model.close()
    await azure.stop()

    decisions = len(model.prompt_tokens)
    print(
        f"{messages} messages from {members} members, one every 2 s, "
        f"PERSONA_MIN_MINUTES={persona_min_minutes}, PERSONA_REFRESH=10"
    )
    print(f"  Azure calls: {model.calls} ({decisions} decisions, {personas.builds} personas)")
    prompt = sum(row.prompt for row in spent)
    completion = sum(row.completion for row in spent)
    cached = sum(row.cached for row in spent)
    billed = sum(u["prompt_tokens"] + u["completion_tokens"] for u in azure.usages if u)
    if billed != prompt + completion:  # the accounting lost or doubled a call
        raise SystemExit(f"the store counts {prompt + completion} tokens, the fake billed {billed}")
    per_thousand = 1000 / messages
    print(
        f"  tokens per 1,000 messages: {(prompt + completion) * per_thousand:,.0f} "
        f"(prompt {prompt * per_thousand:,.0f}, of which cached {cached * per_thousand:,.0f}; "
        f"completion {completion * per_thousand:,.0f}), as the store recorded them"
    )
    print(
        f"  prompt tokens per decision: mean {statistics.fmean(model.prompt_tokens):.0f}, "
        f"max {max(model.prompt_tokens)} (the usage field of the fake, ~4 characters a token)"
    )
    print(
        f"  our time per trigger without the Azure round trip: "
        f"p50 {percentile(own_times, 0.5) * 1e3:.2f} ms, "
        f"p99 {percentile(own_times, 0.99) * 1e3:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for minutes in (30, 0):
        asyncio.run(replay(args.messages, args.members, minutes, args.seed))


if __name__ == "__main__":
    main()
