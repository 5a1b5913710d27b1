"""`python -m bench.model_bench`: what a failing or a plainer model server costs a decision.

Against the loopback fake Azure, with the real openai SDK and the bot's model adapter:
- the time of a decision answered by the main deployment, and of one whose main deployment
  answers 500 (so the SDK retries twice, with its own backoff, as no Retry-After is given)
  and is then answered by the fallback deployment;
- the prompt a server without strict JSON schemas gets in addition (the schema, spelled out
  in the system message), and the time the bot takes to check a JSON-object answer against
  the schema.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from bench.conversation_bench import percentile
from services.conversation.conversation import DECISION_SCHEMA, SYSTEM_PROMPT
from services.llm import (
    ChatCompletionsModel,
    FallbackChatModel,
    JsonRequest,
    ModelServer,
    schema_violation,
)
from tests.fakes.azure_openai import FakeAzureOpenAI, estimate_tokens

KEY = "bench-key-0123456789"
MAIN, FALLBACK = "gpt-bench", "gpt-bench-fallback"
ANSWER = {"reply": True, "style": "warm", "text": "Boa ideia!", "reason": "a question"}
REQUEST = JsonRequest(
    system=SYSTEM_PROMPT.format(bot_name="Aria", addressing="Nobody asked you anything."),
    user="<chat>\n" + "\n".join(f'{{"author": "m{n}", "text": "hello {n}"}}' for n in range(5)),
    schema_name="decision",
    schema=DECISION_SCHEMA,
    temperature=0.7,
    max_tokens=700,
)


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


def show(label: str, times: list[float], unit: float = 1e3, name: str = "ms") -> None:
    print(
        f"  {label}: p50 {percentile(times, 0.5) * unit:.2f} {name}, "
        f"p99 {percentile(times, 0.99) * unit:.2f} {name} ({len(times)} runs)"
    )


async def fallback_latency(runs: int) -> None:
    azure = FakeAzureOpenAI(api_key=KEY, deployment=MAIN, extra_deployments=(FALLBACK,))
    azure.responder = lambda body: json.dumps(ANSWER)
    await azure.start()
    server = ModelServer(azure.endpoint, KEY, api_version="2024-10-21")
    main = ChatCompletionsModel(server, model=MAIN, timeout=10)
    fallback = ChatCompletionsModel(server, model=FALLBACK, timeout=10)
    model = FallbackChatModel(main, fallback)
    try:
        healthy = await timed(lambda: model.complete_json(REQUEST), runs)
        azure.failing[MAIN] = "500"
        failing = await timed(lambda: model.complete_json(REQUEST), max(3, runs // 10))
    finally:
        await main.close()
        await fallback.close()
        await azure.stop()
    print("A reply decision through the SDK, on loopback:")
    show("main deployment answers", healthy)
    show("main answers 500 three times (SDK retries), the fallback answers", failing)


def json_object_cost(runs: int) -> None:
    instruction = json.dumps(REQUEST.schema, separators=(",", ":"))
    added = estimate_tokens(instruction) + estimate_tokens(
        'Answer with one JSON object and nothing else, valid against this JSON schema named "":'
    )
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        if schema_violation(REQUEST.schema, ANSWER) is not None:
            raise SystemExit("the bench's answer is off the schema")
        times.append(time.perf_counter() - started)
    print("A server without strict JSON schemas (json_object):")
    print(
        f"  the schema in the system message: ~{added} prompt tokens more per decision "
        f"(~4 characters a token; {estimate_tokens(REQUEST.system + REQUEST.user)} without it)"
    )
    show("checking an answer against the schema", times, unit=1e6, name="µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # not the fallback's warning at every run
    asyncio.run(fallback_latency(args.runs))
    json_object_cost(args.runs * 50)


if __name__ == "__main__":
    main()
