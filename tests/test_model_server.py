"""The model client against the fake's OpenAI-compatible route: a server without strict JSON
schemas is asked for JSON objects, once refused, and each answer is checked against the
schema."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from services.llm import ChatCompletionsModel, JsonRequest, LlmError, ModelServer
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.harness import AZURE_KEY

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reply", "text"],
    "properties": {"reply": {"type": "boolean"}, "text": {"type": "string"}},
}
REQUEST = JsonRequest(
    system="Decide whether to reply.",
    user="hello",
    schema_name="decision",
    schema=SCHEMA,
    temperature=0.7,
    max_tokens=100,
)


@pytest.fixture
async def local_model(fake_azure: FakeAzureOpenAI) -> AsyncIterator[ChatCompletionsModel]:
    model = ChatCompletionsModel(
        ModelServer(fake_azure.openai_base_url, AZURE_KEY),
        model="gpt-test",
        timeout=10,
        max_retries=0,
    )
    yield model
    await model.close()


def formats(fake: FakeAzureOpenAI) -> list[tuple[str, int]]:
    return [(r["json"]["response_format"]["type"], r["status"]) for r in fake.requests]


async def test_a_server_with_strict_schemas_keeps_them(
    fake_azure: FakeAzureOpenAI, local_model: ChatCompletionsModel
) -> None:
    fake_azure.responder = lambda body: '{"reply": true, "text": "hi"}'
    answer = await local_model.complete_json(REQUEST)
    assert answer.data == {"reply": True, "text": "hi"}
    assert formats(fake_azure) == [("json_schema", 200)]
    assert fake_azure.requests[0]["headers"]["Authorization"] == f"Bearer {AZURE_KEY}"
    assert local_model.response_format == "json_schema"


async def test_a_refused_schema_becomes_a_json_object_once_and_for_all(
    fake_azure: FakeAzureOpenAI, local_model: ChatCompletionsModel
) -> None:
    fake_azure.json_object_only = True
    fake_azure.responder = lambda body: '{"reply": false, "text": ""}'
    first = await local_model.complete_json(REQUEST)
    second = await local_model.complete_json(REQUEST)
    assert first.data == second.data == {"reply": False, "text": ""}
    assert formats(fake_azure) == [("json_schema", 400), ("json_object", 200), ("json_object", 200)]
    asked = fake_azure.requests[1]["json"]["messages"]
    assert asked[0]["content"].startswith("Decide whether to reply.\n\nAnswer with one JSON")
    assert json.loads(asked[0]["content"].rsplit("\n", 1)[1]) == SCHEMA
    assert asked[1]["content"] == "hello"  # member text stays in the user message
    assert local_model.response_format == "json_object"


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ('{"reply": "yes", "text": "hi"}', "schema"),
        ('{"reply": true}', "schema"),
        ('{"reply": true, "text": "hi", "extra": 1}', "schema"),
        ("Sure! Here is my answer.", "malformed"),
    ],
    ids=["wrong type", "missing field", "extra field", "not JSON"],
)
async def test_a_json_object_off_the_schema_is_no_answer_but_is_billed(
    fake_azure: FakeAzureOpenAI, local_model: ChatCompletionsModel, content: str, kind: str
) -> None:
    fake_azure.json_object_only = True
    fake_azure.responder = lambda body: content
    with pytest.raises(LlmError) as caught:
        await local_model.complete_json(REQUEST)
    assert caught.value.kind == kind
    assert caught.value.usage.completion > 0


async def test_other_refusals_do_not_change_the_format(
    fake_azure: FakeAzureOpenAI, local_model: ChatCompletionsModel
) -> None:
    fake_azure.reject_max_tokens_always = True
    fake_azure.responder = lambda body: '{"reply": true, "text": "ok"}'
    await local_model.complete_json(REQUEST)
    assert formats(fake_azure) == [("json_schema", 400), ("json_schema", 200)]
    assert "max_completion_tokens" in fake_azure.requests[1]["json"]


async def test_an_unknown_model_names_the_openai_variable(
    fake_azure: FakeAzureOpenAI,
) -> None:
    model = ChatCompletionsModel(
        ModelServer(fake_azure.openai_base_url, AZURE_KEY), model="nowhere", timeout=10
    )
    try:
        with pytest.raises(LlmError) as caught:
            await model.complete_json(REQUEST)
    finally:
        await model.close()
    assert (caught.value.kind, str(caught.value)) == ("not_found", "not_found: check OPENAI_MODEL")


async def test_calls_refused_together_both_come_back_as_json_objects(
    fake_azure: FakeAzureOpenAI, local_model: ChatCompletionsModel
) -> None:
    fake_azure.json_object_only = True
    fake_azure.delay_seconds = 0.05  # both are sent before either is refused
    fake_azure.responder = lambda body: '{"reply": true, "text": "ok"}'
    first, second = await asyncio.gather(
        local_model.complete_json(REQUEST), local_model.complete_json(REQUEST)
    )
    assert first.data == second.data == {"reply": True, "text": "ok"}
    assert sorted(formats(fake_azure)) == [
        ("json_object", 200),
        ("json_object", 200),
        ("json_schema", 400),
        ("json_schema", 400),
    ]
