"""Self-tests of the fake Azure OpenAI, driven by the real openai SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncAzureOpenAI

from tests.fakes.azure_openai import MALFORMED_CONTENT, FakeAzureOpenAI

API_VERSION = "2024-10-21"
MESSAGES: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello"},
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAzureOpenAI]:
    server = FakeAzureOpenAI(api_key="k1", deployment="chat")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert server.unhandled == []


def make_client(fake: FakeAzureOpenAI, *, key: str = "k1", timeout: float = 2) -> AsyncAzureOpenAI:
    return AsyncAzureOpenAI(
        azure_endpoint=fake.endpoint,
        api_key=key,
        api_version=API_VERSION,
        max_retries=0,
        timeout=timeout,
    )


@pytest.fixture
async def client(fake: FakeAzureOpenAI) -> AsyncIterator[AsyncAzureOpenAI]:
    async with make_client(fake) as c:
        yield c


async def test_normal_answer(fake: FakeAzureOpenAI, client: AsyncAzureOpenAI) -> None:
    fake.responder = lambda body: f"echo {body['messages'][-1]['content']}"
    result = await client.chat.completions.create(
        model="chat", messages=MESSAGES, temperature=0.7, max_tokens=50
    )
    choice = result.choices[0]
    assert choice.message.content == "echo Say hello"
    assert choice.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.prompt_tokens == -(-len("You are terse.Say hello") // 4)
    assert result.usage.completion_tokens == 4
    (req,) = await fake.wait_for_requests(1)
    assert req["query"] == {"api-version": API_VERSION}
    assert req["headers"]["api-key"] == "k1"
    assert req["json"]["temperature"] == 0.7
    assert req["status"] == 200


async def test_full_body_responder_and_stream(
    fake: FakeAzureOpenAI, client: AsyncAzureOpenAI
) -> None:
    fake.responder = lambda body: fake.completion('{"reply": "hi"}', body)
    result = await client.chat.completions.create(model="chat", messages=MESSAGES)
    assert json.loads(result.choices[0].message.content or "") == {"reply": "hi"}

    fake.responder = lambda body: "streamed answer"
    stream = await client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "streamed answer"


async def test_auth_and_deployment_errors(fake: FakeAzureOpenAI) -> None:
    async with make_client(fake, key="wrong") as bad:
        with pytest.raises(openai.AuthenticationError) as auth:
            await bad.chat.completions.create(model="chat", messages=MESSAGES)
    assert auth.value.status_code == 401
    async with make_client(fake) as good:
        with pytest.raises(openai.NotFoundError) as missing:
            await good.chat.completions.create(model="other", messages=MESSAGES)
    assert missing.value.code == "DeploymentNotFound"


async def test_rate_limit_and_server_error(fake: FakeAzureOpenAI, client: AsyncAzureOpenAI) -> None:
    fake.inject("429")
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="chat", messages=MESSAGES)
    assert limited.value.response.headers["retry-after-ms"] == "1"
    fake.inject("500")
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="chat", messages=MESSAGES)
    # Faults are consumed: the next call succeeds.
    ok = await client.chat.completions.create(model="chat", messages=MESSAGES)
    assert ok.choices[0].message.content == "Hello from the fake."


async def test_sdk_retries_through_queued_faults(fake: FakeAzureOpenAI) -> None:
    fake.inject("429", times=2)
    async with AsyncAzureOpenAI(
        azure_endpoint=fake.endpoint, api_key="k1", api_version=API_VERSION, max_retries=2
    ) as retrying:
        result = await retrying.chat.completions.create(model="chat", messages=MESSAGES)
    assert result.choices[0].message.content == "Hello from the fake."
    assert [r["status"] for r in fake.requests] == [429, 429, 200]


async def test_hang_times_out(fake: FakeAzureOpenAI) -> None:
    fake.inject("hang")
    async with make_client(fake, timeout=0.3) as quick:
        with pytest.raises(openai.APITimeoutError):
            await quick.chat.completions.create(model="chat", messages=MESSAGES)


async def test_content_filters(fake: FakeAzureOpenAI, client: AsyncAzureOpenAI) -> None:
    fake.inject("content_filter_prompt")
    with pytest.raises(openai.BadRequestError) as blocked:
        await client.chat.completions.create(model="chat", messages=MESSAGES)
    assert blocked.value.code == "content_filter"
    assert blocked.value.param == "prompt"
    assert isinstance(blocked.value.body, dict)
    assert blocked.value.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"

    fake.inject("content_filter_output")
    result = await client.chat.completions.create(model="chat", messages=MESSAGES)
    assert result.choices[0].finish_reason == "content_filter"
    assert not result.choices[0].message.content


async def test_malformed(fake: FakeAzureOpenAI, client: AsyncAzureOpenAI) -> None:
    fake.inject("malformed")
    result = await client.chat.completions.create(model="chat", messages=MESSAGES)
    assert result.choices[0].message.content == MALFORMED_CONTENT
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.choices[0].message.content or "")


async def test_reject_temperature(fake: FakeAzureOpenAI, client: AsyncAzureOpenAI) -> None:
    fake.inject("reject_temperature")
    with pytest.raises(openai.BadRequestError) as rejected:
        await client.chat.completions.create(model="chat", messages=MESSAGES, temperature=0.7)
    assert rejected.value.code == "unsupported_value"
    assert rejected.value.param == "temperature"
    assert "does not support 0.7 with this model" in rejected.value.message

    fake.inject("reject_temperature")  # consumed by a request without temperature: answered
    ok = await client.chat.completions.create(model="chat", messages=MESSAGES)
    assert ok.choices[0].finish_reason == "stop"

    fake.reject_temperature_always = True
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="chat", messages=MESSAGES, temperature=0.2)
    ok = await client.chat.completions.create(model="chat", messages=MESSAGES)
    assert ok.choices[0].message.content == "Hello from the fake."
    assert fake.pending_faults == []
