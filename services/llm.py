"""The one module that talks to the model: JSON answers from a chat completions server.

The server is an Azure OpenAI resource or any OpenAI-compatible one (OpenAI, Ollama, vLLM,
LM Studio, OpenRouter): `ModelServer` says which, and builds the client. Every failure
becomes an `LlmError` with a short `kind`, so callers stay silent and log one line instead
of handling the SDK's exception zoo. `AZURE_OPENAI_API_VERSION=v1` speaks Azure's v1 API
(`{endpoint}/openai/v1/`, the deployment as `model`, no dated version) with the plain
`AsyncOpenAI` client; a dated version uses `AsyncAzureOpenAI`; an OpenAI-compatible server
gets the plain client on its base URL.

A server that refuses a strict JSON-schema response format is asked for a JSON object
(`json_object`) from then on, with the schema in the system message, and each answer is
checked against the schema here (jsonschema). `FallbackChatModel` tries a second deployment
once when the first is throttled, down or slow.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import jsonschema
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONObject, ResponseFormatJSONSchema

from services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger(__name__)

V1_API = "v1"
# The smallest structured-output request there is: what `probe` sends.
_PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
# An 8x8 orange PNG: the smallest image request there is, what `probe_images` sends.
_PROBE_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP438CAFWEXHbQ"
    "SAKmzX8FBxi1QAAAAAElFTkSuQmCC"
)


@dataclass(frozen=True)
class TokenUsage:
    """What one call cost, from the response's `usage`: `cached` is the part of `prompt` that
    Azure served from its prompt cache (`prompt_tokens_details.cached_tokens`)."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0

    @property
    def spent(self) -> bool:
        return bool(self.prompt or self.completion)


NO_USAGE = TokenUsage()


class LlmError(Exception):
    """A call that produced no usable answer. `kind` names why, for logs and tests. `usage`:
    what it cost all the same (an answer cut short, filtered, or off the schema is billed)."""

    def __init__(self, kind: str, detail: str = "", *, usage: TokenUsage = NO_USAGE) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.usage = usage


@dataclass(frozen=True)
class PromptImage:
    """An image for the model, after the user text: a caption (a text part naming it) and the
    picture itself, inline (a data URL), so the model never fetches anything."""

    caption: str
    data_url: str


@dataclass(frozen=True)
class JsonRequest:
    system: str
    user: str
    schema_name: str
    schema: dict[str, Any]
    temperature: float | None
    max_tokens: int
    images: tuple[PromptImage, ...] = ()


def user_content(request: JsonRequest) -> str | list[ChatCompletionContentPartParam]:
    """The user message's content: the text alone, or the text then each image after its
    caption (chat completions' content parts)."""
    if not request.images:
        return request.user
    parts: list[ChatCompletionContentPartParam] = [{"type": "text", "text": request.user}]
    for image in request.images:
        parts.append({"type": "text", "text": image.caption})
        parts.append({"type": "image_url", "image_url": {"url": image.data_url, "detail": "auto"}})
    return parts


@dataclass(frozen=True)
class JsonAnswer:
    data: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # of the prompt tokens

    @property
    def usage(self) -> TokenUsage:
        return TokenUsage(self.prompt_tokens, self.completion_tokens, self.cached_tokens)


class ChatModel(Protocol):
    @property
    def accepts_temperature(self) -> bool: ...

    @property
    def accepts_images(self) -> bool: ...

    async def complete_json(self, request: JsonRequest) -> JsonAnswer: ...


# How the answer's JSON is asked for: a strict JSON schema the server enforces, or a JSON
# object the bot checks against the schema itself.
ResponseFormat = Literal["json_schema", "json_object"]


@dataclass(frozen=True)
class ModelServer:
    """Where chat completions are served: an Azure OpenAI resource (`api_version` dated, or
    `v1`), or an OpenAI-compatible server (`api_version` None, `url` its base URL, such as
    `http://localhost:11434/v1` for Ollama)."""

    url: str
    api_key: str = field(repr=False)
    api_version: str | None = None

    @property
    def is_azure(self) -> bool:
        return self.api_version is not None

    @property
    def name(self) -> str:
        return "Azure OpenAI" if self.is_azure else "OpenAI-compatible server"

    @property
    def key_variable(self) -> str:
        return "AZURE_OPENAI_API_KEY" if self.is_azure else "OPENAI_API_KEY"

    @property
    def model_variable(self) -> str:
        return "AZURE_OPENAI_DEPLOYMENT" if self.is_azure else "OPENAI_MODEL"

    def client(self, *, timeout: float, max_retries: int) -> AsyncOpenAI:
        # Everything explicit: without arguments the SDK reads AZURE_OPENAI_* and OPENAI_*
        # behind our back.
        if self.api_version is None:
            return AsyncOpenAI(
                base_url=f"{self.url.rstrip('/')}/",
                api_key=self.api_key,
                timeout=timeout,
                max_retries=max_retries,
            )
        if self.api_version == V1_API:
            return AsyncOpenAI(
                base_url=f"{self.url.rstrip('/')}/openai/v1/",
                api_key=self.api_key,
                timeout=timeout,
                max_retries=max_retries,
            )
        return AsyncAzureOpenAI(
            azure_endpoint=self.url,
            api_key=self.api_key,
            api_version=self.api_version,
            timeout=timeout,
            max_retries=max_retries,
        )


@dataclass(frozen=True)
class Probe:
    """What one tiny structured-output request told about the deployment."""

    error: LlmError | None  # None: it answered with the requested JSON
    accepts_temperature: bool
    response_format: ResponseFormat = "json_schema"
    # Why the server refused a strict JSON schema, when it did: an `LlmError` kind
    # (old_api_version, no_structured_outputs, or json_schema_refused).
    schema_refusal: str | None = None


def _schema_refusal(error: openai.BadRequestError) -> str | None:
    """Why a 400 refuses the strict JSON-schema response format, or None when it is about
    something else. Azure refuses it with an old api-version ("... enabled only for api
    versions 2024-08-01-preview and later") and with a model that has none ("'response_format'
    must be one of 'json_object', 'text'"); other servers name `response_format` or
    `json_schema` in their own words."""
    text = error.message.lower()
    if "json_schema" in text and "api version" in text:
        return "old_api_version"
    if "'json_object', 'text'" in text:
        return "no_structured_outputs"
    parameter = str(error.param or "")
    if (
        parameter.startswith("response_format")
        or "response_format" in text
        or "json_schema" in text
    ):
        return "json_schema_refused"
    return None


def _refuses_images(error: openai.BadRequestError) -> bool:
    """A deployment without vision answers 400 "Invalid content type. image_url is only
    supported by certain models." (param `messages.[1].content.[1].type`)."""
    text = error.message.lower()
    return "image_url" in text or ("image" in text and "support" in text)


@functools.lru_cache(maxsize=16)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    """A checked validator for a schema (as canonical JSON text), built once."""
    schema = json.loads(schema_text)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def schema_violation(schema: dict[str, Any], data: dict[str, Any]) -> str | None:
    """Where `data` breaks `schema` and which rule, in a few words; None when it follows it.
    Only the schema's words: the answer's values (which may quote members) stay out of it."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.relative_schema_path)
    return f"breaks {where}: {json.dumps(error.validator_value)}"[:200]


def _asking_for_json_object(request: JsonRequest) -> JsonRequest:
    """The request with its schema spelled out in the system message: a server that only
    promises some JSON object needs to be told which (and OpenAI's `json_object` mode wants
    the word JSON in the messages)."""
    schema = json.dumps(request.schema, separators=(",", ":"))
    return replace(
        request,
        system=f"{request.system}\n\nAnswer with one JSON object and nothing else, valid "
        f'against this JSON schema named "{request.schema_name}":\n{schema}',
    )


def _rejects(error: openai.BadRequestError, parameter: str) -> bool:
    """Reasoning deployments answer 400 `unsupported_value`/`unsupported_parameter`."""
    return error.param == parameter or (
        error.code in {"unsupported_value", "unsupported_parameter"} and parameter in error.message
    )


# The failures a second deployment may get past: throttled (after the SDK's retries), a
# server error, or no answer in time.
FALLBACK_KINDS = frozenset({"rate_limited", "server_error", "timeout"})


class ChatCompletionsModel:
    """One deployment (Azure) or model (another server), with what it was found to accept:
    a temperature, `max_tokens` or `max_completion_tokens`, a strict JSON schema."""

    def __init__(
        self,
        server: ModelServer,
        *,
        model: str,
        timeout: float,
        max_retries: int = 2,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._client = server.client(timeout=timeout, max_retries=max_retries)
        self._server = server
        self._telemetry = telemetry
        self._deployment = model
        self._accepts_temperature = True
        self._accepts_images = True  # until the deployment refuses one
        self._token_limit_parameter = "max_tokens"
        self._response_format: ResponseFormat = "json_schema"
        self._schema_refusal: str | None = None

    @property
    def name(self) -> str:
        """The deployment's (or the model's) name."""
        return self._deployment

    @property
    def accepts_temperature(self) -> bool:
        return self._accepts_temperature

    @property
    def accepts_images(self) -> bool:
        return self._accepts_images

    @property
    def response_format(self) -> ResponseFormat:
        return self._response_format

    async def close(self) -> None:
        await self._client.close()

    async def complete_json(self, request: JsonRequest) -> JsonAnswer:
        started = time.perf_counter()
        try:
            answer = await self._complete_json(request)
        except LlmError as error:
            self._telemetry.llm_call(
                request.schema_name, self._deployment, time.perf_counter() - started, error.kind
            )
            self._count_tokens(error.usage)
            raise
        self._telemetry.llm_call(
            request.schema_name, self._deployment, time.perf_counter() - started, None
        )
        self._count_tokens(answer.usage)
        return answer

    def _count_tokens(self, usage: TokenUsage) -> None:
        if usage.spent:
            self._telemetry.llm_tokens(usage.prompt, usage.completion, usage.cached)

    async def probe(self) -> Probe:
        """One tiny request with a strict JSON schema and a temperature, as the bot's own
        calls are made: for `python -m app check`."""
        request = JsonRequest(
            system='Answer with {"ok": true}.',
            user="ping",
            schema_name="check",
            schema=_PROBE_SCHEMA,
            temperature=0.5,
            max_tokens=200,  # room for a reasoning deployment's thinking
        )
        try:
            await self.complete_json(request)
        except LlmError as error:
            return Probe(
                error, self._accepts_temperature, self._response_format, self._schema_refusal
            )
        return Probe(None, self._accepts_temperature, self._response_format, self._schema_refusal)

    async def probe_images(self) -> LlmError | None:
        """One tiny request with an image: None when the deployment takes images (for
        `python -m app check`, after `probe`)."""
        request = JsonRequest(
            system='Answer with {"ok": true}.',
            user="What colour is this image?",
            schema_name="check",
            schema=_PROBE_SCHEMA,
            temperature=None,
            max_tokens=200,
            images=(PromptImage(caption="image 1", data_url=_PROBE_IMAGE),),
        )
        try:
            await self.complete_json(request)
        except LlmError as error:
            return error
        return None

    async def _complete_json(self, request: JsonRequest) -> JsonAnswer:
        # At most: drop temperature, switch token parameter, switch to a JSON object, answer.
        for _ in range(4):
            # This call's format: a call refused while another one switched still retries.
            sent_format = self._response_format
            asked = request if sent_format == "json_schema" else _asking_for_json_object(request)
            try:
                answer = await self._complete(asked, sent_format)
            except openai.BadRequestError as error:
                if error.code == "content_filter":
                    raise LlmError("content_filter_prompt") from error
                if request.images and _refuses_images(error):
                    # Remembered: the caller sends text only from now on (`accepts_images`).
                    log.warning("deployment takes no images: sending text only from now on")
                    self._accepts_images = False
                    raise LlmError("no_vision", error.message[:200]) from error
                if sent_format == "json_schema" and (refusal := _schema_refusal(error)):
                    if self._response_format == "json_schema":
                        log.warning(
                            "%s refuses a strict JSON schema (%s): asking %s for a JSON object "
                            "and checking it against the schema from now on",
                            self._server.name,
                            refusal,
                            self._deployment,
                        )
                        self._response_format, self._schema_refusal = "json_object", refusal
                    continue
                if self._accepts_temperature and _rejects(error, "temperature"):
                    log.warning("deployment rejects temperature: calling it without from now on")
                    self._accepts_temperature = False
                    continue
                if self._token_limit_parameter == "max_tokens" and _rejects(error, "max_tokens"):
                    self._token_limit_parameter = "max_completion_tokens"
                    continue
                raise LlmError("bad_request", error.message[:200]) from error
            if sent_format == "json_object" and (
                violation := schema_violation(request.schema, answer.data)
            ):
                raise LlmError("schema", violation, usage=answer.usage)
            return answer
        raise LlmError("bad_request", "the deployment rejected every parameter variant")

    async def _complete(self, request: JsonRequest, response_format: ResponseFormat) -> JsonAnswer:
        options: dict[str, Any] = {self._token_limit_parameter: request.max_tokens}
        if request.temperature is not None and self._accepts_temperature:
            options["temperature"] = request.temperature
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": user_content(request)},
        ]
        try:
            response = await self._client.chat.completions.create(
                model=self._deployment,
                messages=messages,
                response_format=_response_format_of(request, response_format),
                **options,
            )
        except openai.BadRequestError:
            raise
        except openai.RateLimitError as error:
            raise LlmError("rate_limited") from error
        except openai.APITimeoutError as error:
            raise LlmError("timeout") from error
        except openai.AuthenticationError as error:
            raise LlmError("unauthorized", f"check {self._server.key_variable}") from error
        except openai.NotFoundError as error:
            # Azure says DeploymentNotFound for a deployment, and "Resource not found" for a
            # path (an endpoint or an api-version) it does not serve; OpenAI says
            # model_not_found, Ollama "model ... not found".
            text = error.message.lower()
            if error.code in {"DeploymentNotFound", "model_not_found"} or (
                "deployment" in text or "model" in text
            ):
                raise LlmError("not_found", f"check {self._server.model_variable}") from error
            raise LlmError("path_not_found", error.message[:200]) from error
        except openai.InternalServerError as error:
            raise LlmError("server_error", f"HTTP {error.status_code}") from error
        except openai.APIStatusError as error:
            raise LlmError("refused", f"HTTP {error.status_code}") from error
        except openai.APIConnectionError as error:
            raise LlmError("unreachable") from error

        usage = _usage_of(response.usage)
        if not response.choices:
            raise LlmError("malformed", "no choices", usage=usage)
        choice = response.choices[0]
        if choice.finish_reason == "content_filter":
            raise LlmError("content_filter_output", usage=usage)
        if choice.finish_reason == "length":
            raise LlmError("truncated", usage=usage)
        content = choice.message.content or ""
        try:
            data = json.loads(content)
        except json.JSONDecodeError as error:
            raise LlmError("malformed", "answer is not JSON", usage=usage) from error
        if not isinstance(data, dict):
            raise LlmError("malformed", "answer is not a JSON object", usage=usage)
        return JsonAnswer(
            data=data,
            prompt_tokens=usage.prompt,
            completion_tokens=usage.completion,
            cached_tokens=usage.cached,
        )


class FallbackChatModel:
    """A main deployment, and a second one that gets a request once when the main one's call
    ends throttled (after its retries), in a server error or without an answer in time. Every
    other failure (a refusal, a filtered prompt, an answer off the schema) would be the same
    on the second, and is raised as it is."""

    def __init__(self, main: ChatModel, fallback: ChatModel) -> None:
        self._main = main
        self._fallback = fallback

    @property
    def accepts_temperature(self) -> bool:
        return self._main.accepts_temperature

    @property
    def accepts_images(self) -> bool:
        """The main deployment's: a fallback without vision refuses the images of the one
        request it gets, and the caller asks again with them named (`no_vision`)."""
        return self._main.accepts_images

    async def complete_json(self, request: JsonRequest) -> JsonAnswer:
        try:
            return await self._main.complete_json(request)
        except LlmError as error:
            if error.kind not in FALLBACK_KINDS:
                raise
            log.warning("the main deployment failed (%s): asking the fallback once", error.kind)
        return await self._fallback.complete_json(request)


def _response_format_of(
    request: JsonRequest, response_format: ResponseFormat
) -> ResponseFormatJSONSchema | ResponseFormatJSONObject:
    if response_format == "json_object":
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
    }


def _usage_of(usage: CompletionUsage | None) -> TokenUsage:
    """The response's `usage`; `prompt_tokens_details` is absent from older API versions and
    from some OpenAI-compatible servers."""
    if usage is None:
        return NO_USAGE
    details = usage.prompt_tokens_details
    cached = details.cached_tokens if details is not None else None
    return TokenUsage(usage.prompt_tokens, usage.completion_tokens, cached or 0)
