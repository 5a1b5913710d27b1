"""The one module that talks to Azure OpenAI: JSON answers from a chat completions deployment.

Every failure becomes an `LlmError` with a short `kind`, so callers stay silent and log one
line instead of handling the SDK's exception zoo. `AZURE_OPENAI_API_VERSION=v1` speaks
Azure's v1 API (`{endpoint}/openai/v1/`, the deployment as `model`, no dated version) with
the plain `AsyncOpenAI` client; a dated version uses `AsyncAzureOpenAI`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionMessageParam

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


@dataclass(frozen=True)
class Probe:
    """What one tiny structured-output request told about the deployment."""

    error: LlmError | None  # None: it answered with the requested JSON
    accepts_temperature: bool


def _no_structured_outputs(error: openai.BadRequestError) -> str | None:
    """Azure refuses a JSON schema with an old api-version ("... enabled only for api versions
    2024-08-01-preview and later"), and with a model that has none ("'response_format' must be
    one of 'json_object', 'text'"): the `LlmError` kind of each, or None."""
    text = error.message.lower()
    if "json_schema" in text and "api version" in text:
        return "old_api_version"
    if "'json_object', 'text'" in text:
        return "no_structured_outputs"
    return None


def _refuses_images(error: openai.BadRequestError) -> bool:
    """A deployment without vision answers 400 "Invalid content type. image_url is only
    supported by certain models." (param `messages.[1].content.[1].type`)."""
    text = error.message.lower()
    return "image_url" in text or ("image" in text and "support" in text)


def _rejects(error: openai.BadRequestError, parameter: str) -> bool:
    """Reasoning deployments answer 400 `unsupported_value`/`unsupported_parameter`."""
    return error.param == parameter or (
        error.code in {"unsupported_value", "unsupported_parameter"} and parameter in error.message
    )


class AzureChatModel:
    def __init__(
        self,
        *,
        endpoint: str,
        api_key: str,
        api_version: str,
        deployment: str,
        timeout: float,
        max_retries: int = 2,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        # Everything explicit: without arguments the SDK reads AZURE_OPENAI_* behind our back.
        self._client: AsyncOpenAI
        if api_version == V1_API:
            self._client = AsyncOpenAI(
                base_url=f"{endpoint.rstrip('/')}/openai/v1/",
                api_key=api_key,
                timeout=timeout,
                max_retries=max_retries,
            )
        else:
            self._client = AsyncAzureOpenAI(
                azure_endpoint=endpoint,
                api_key=api_key,
                api_version=api_version,
                timeout=timeout,
                max_retries=max_retries,
            )
        self._telemetry = telemetry
        self._deployment = deployment
        self._accepts_temperature = True
        self._accepts_images = True  # until the deployment refuses one
        self._token_limit_parameter = "max_tokens"

    @property
    def accepts_temperature(self) -> bool:
        return self._accepts_temperature

    @property
    def accepts_images(self) -> bool:
        return self._accepts_images

    async def close(self) -> None:
        await self._client.close()

    async def complete_json(self, request: JsonRequest) -> JsonAnswer:
        started = time.perf_counter()
        try:
            answer = await self._complete_json(request)
        except LlmError as error:
            self._telemetry.azure_call(
                request.schema_name, time.perf_counter() - started, error.kind
            )
            self._count_tokens(error.usage)
            raise
        self._telemetry.azure_call(request.schema_name, time.perf_counter() - started, None)
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
            return Probe(error, self._accepts_temperature)
        return Probe(None, self._accepts_temperature)

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
        for _ in range(3):  # at most: drop temperature, switch token parameter, answer
            try:
                return await self._complete(request)
            except openai.BadRequestError as error:
                if error.code == "content_filter":
                    raise LlmError("content_filter_prompt") from error
                if (refusal := _no_structured_outputs(error)) is not None:
                    raise LlmError(refusal, error.message[:200]) from error
                if request.images and _refuses_images(error):
                    # Remembered: the caller sends text only from now on (`accepts_images`).
                    log.warning("deployment takes no images: sending text only from now on")
                    self._accepts_images = False
                    raise LlmError("no_vision", error.message[:200]) from error
                if self._accepts_temperature and _rejects(error, "temperature"):
                    log.warning("deployment rejects temperature: calling it without from now on")
                    self._accepts_temperature = False
                    continue
                if self._token_limit_parameter == "max_tokens" and _rejects(error, "max_tokens"):
                    self._token_limit_parameter = "max_completion_tokens"
                    continue
                raise LlmError("bad_request", error.message[:200]) from error
        raise LlmError("bad_request", "the deployment rejected every parameter variant")

    async def _complete(self, request: JsonRequest) -> JsonAnswer:
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
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": request.schema_name,
                        "schema": request.schema,
                        "strict": True,
                    },
                },
                **options,
            )
        except openai.BadRequestError:
            raise
        except openai.RateLimitError as error:
            raise LlmError("rate_limited") from error
        except openai.APITimeoutError as error:
            raise LlmError("timeout") from error
        except openai.AuthenticationError as error:
            raise LlmError("unauthorized", "check AZURE_OPENAI_API_KEY") from error
        except openai.NotFoundError as error:
            # Azure says DeploymentNotFound for a deployment; "Resource not found" for a path
            # (an endpoint or an api-version) it does not serve.
            if error.code == "DeploymentNotFound" or "deployment" in error.message.lower():
                raise LlmError("not_found", "check AZURE_OPENAI_DEPLOYMENT") from error
            raise LlmError("path_not_found", error.message[:200]) from error
        except openai.APIStatusError as error:
            raise LlmError("server_error", f"HTTP {error.status_code}") from error
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


def _usage_of(usage: CompletionUsage | None) -> TokenUsage:
    """The response's `usage`; `prompt_tokens_details` is absent from older API versions and
    from some OpenAI-compatible servers."""
    if usage is None:
        return NO_USAGE
    details = usage.prompt_tokens_details
    cached = details.cached_tokens if details is not None else None
    return TokenUsage(usage.prompt_tokens, usage.completion_tokens, cached or 0)
