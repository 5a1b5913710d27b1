# The waiting helper takes a `timeout` argument on purpose: it is the fixture's public API.
# ruff: noqa: ASYNC109
"""A loopback fake of Azure OpenAI chat completions, for the real ``openai`` SDK.

``AsyncAzureOpenAI(azure_endpoint=fake.endpoint, api_key=fake.api_key, api_version=...)``
sends ``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``
with an ``api-key`` header; Azure's v1 API (``AsyncOpenAI(base_url=f"{endpoint}/openai/v1/")``)
sends ``POST {endpoint}/openai/v1/chat/completions`` with the deployment as ``model`` and the
key as a bearer token. This fake serves both, with Azure's response and error shapes, and
an OpenAI-compatible server's route too (``AsyncOpenAI(base_url=fake.openai_base_url)``:
``POST {endpoint}/v1/chat/completions``, a bearer key, the model as ``model``), as Ollama,
vLLM or OpenAI itself serve it.

It knows ``deployment`` and ``extra_deployments`` (any other name is a 404). Faults are
queued for any deployment or for one (``inject(kind, deployment=...)``), or kept for every
request to one (``failing[deployment] = kind``); ``json_object_only`` makes it refuse the
strict JSON-schema response format with a 400 naming ``response_format``, as servers
without structured outputs do.

Its ``usage`` is Azure's: prompt, completion and total tokens (~4 characters a token), and
``prompt_tokens_details.cached_tokens`` as Azure's prompt caching counts them: a prompt of at
least ``cache_min_tokens`` (1,024) tokens that begins like one seen before has that common
beginning served from the cache, counted in steps of 128 tokens.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.loopback import serve_on_loopback

JSON = dict[str, Any]

FAULT_KINDS = (
    "429",
    "500",
    "503",
    "hang",
    "content_filter_prompt",
    "content_filter_output",
    "malformed",
    "reject_temperature",
)

# Azure caches prompts of 1,024 tokens or more, and serves their cached part in 128-token steps.
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128

MALFORMED_CONTENT = '{"reply": "this is not valid JSON because it never ends'

_SAFE = {"filtered": False, "severity": "safe"}


def _output_filter_results(*, violence: bool = False) -> JSON:
    return {
        "hate": dict(_SAFE),
        "self_harm": dict(_SAFE),
        "sexual": dict(_SAFE),
        "violence": {"filtered": True, "severity": "high"} if violence else dict(_SAFE),
        "protected_material_code": {"filtered": False, "detected": False},
        "protected_material_text": {"filtered": False, "detected": False},
    }


def _prompt_filter_results(*, jailbreak: bool = False) -> JSON:
    return {
        "hate": dict(_SAFE),
        "self_harm": dict(_SAFE),
        "sexual": dict(_SAFE),
        "violence": dict(_SAFE),
        "jailbreak": {"filtered": jailbreak, "detected": jailbreak},
    }


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    hdrs = {"Content-Type": "application/json", "apim-request-id": str(uuid.uuid4())}
    hdrs.update(headers or {})
    return web.Response(body=json.dumps(data).encode(), status=status, headers=hdrs)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def _shared_prefix(first: str, second: str) -> int:
    """How many characters the two strings begin with in common."""
    for index, (a, b) in enumerate(zip(first, second, strict=False)):
        if a != b:
            return index
    return min(len(first), len(second))


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def image_parts(body: Any) -> list[JSON]:
    """The ``image_url`` content parts of a request's messages, in order."""
    if not isinstance(body, dict):
        return []
    return [
        part
        for message in body.get("messages") or []
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]


def describe_image(part: JSON) -> JSON:
    """What an image part carried: its detail, and for a data URL the decoded picture's
    format and size (``error`` when it is not one)."""
    image_url = part.get("image_url") or {}
    url = str(image_url.get("url", ""))
    described: JSON = {"detail": image_url.get("detail", "auto"), "url_scheme": url[:5]}
    header, _, payload = url.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        return {**described, "error": "not a base64 data URL"}
    try:
        data = base64.b64decode(payload, validate=True)
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
            image_format = picture.format
    except (binascii.Error, OSError) as failure:
        return {**described, "error": str(failure)}
    return {
        **described,
        "media_type": header[5:].split(";", 1)[0],
        "format": image_format,
        "width": width,
        "height": height,
        "bytes": len(data),
    }


def image_tokens(described: JSON) -> int:
    """What an image costs in prompt tokens, by OpenAI's published rule for gpt-4o: 85 at
    low detail; otherwise fit in 2,048 x 2,048, then the short side to 768, and 85 plus 170
    per 512-pixel tile."""
    if "width" not in described:
        return 0
    if described["detail"] == "low":
        return 85
    width, height = float(described["width"]), float(described["height"])
    fit = min(1.0, 2048 / max(width, height))
    width, height = width * fit, height * fit
    shrink = min(1.0, 768 / min(width, height))
    width, height = width * shrink, height * shrink
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


class FakeAzureOpenAI:
    """Azure OpenAI chat completions on 127.0.0.1 (see module doc)."""

    def __init__(
        self,
        *,
        api_key: str = "fake-azure-key",
        deployment: str = "gpt-test",
        extra_deployments: tuple[str, ...] = (),
        model_name: str = "gpt-4o-mini-2024-07-18",
    ) -> None:
        self.api_key = api_key
        self.deployment = deployment
        self.deployments = frozenset({deployment, *extra_deployments})
        self.model_name = model_name
        # Deployment -> the fault every request to it gets, until reset.
        self.failing: dict[str, str] = {}
        # A server without structured outputs: a strict JSON schema is refused with a 400.
        self.json_object_only = False
        self.responder: Callable[[JSON], str | JSON] = self._default_responder
        self.delay_seconds = 0.0  # a slow deployment: every answer waits this long
        self.reject_temperature_always = False
        self.reject_max_tokens_always = False
        self.refuse_images = False  # a deployment without vision: 400 for any image part
        # The first dated api-version with structured outputs; older ones refuse a JSON schema.
        self.structured_outputs_since = "2024-08-01"
        self.cache_min_tokens = CACHE_MIN_TOKENS
        self._cached_prompts: deque[str] = deque(maxlen=64)  # the newest prompts, for the cache
        self.requests: list[JSON] = []
        self.images: list[JSON] = []  # every image part received, described (`describe_image`)
        self.usages: list[JSON | None] = []  # the `usage` of each completion answered
        self.unhandled: list[str] = []
        self._faults: deque[tuple[str, str | None]] = deque()  # (kind, deployment or any)
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(
            "/openai/deployments/{deployment}/chat/completions", self._chat_completions
        )
        app.router.add_post("/openai/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner, self._port = await serve_on_loopback(app, shutdown_timeout=5)

    async def stop(self) -> None:
        self._stopping.set()  # releases "hang" handlers at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAzureOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def openai_base_url(self) -> str:
        """The base URL of its OpenAI-compatible route (like Ollama's `.../v1`)."""
        return f"{self.endpoint}/v1"

    # ------------------------------------------------------------------ control

    def inject(self, kind: str, times: int = 1, *, deployment: str | None = None) -> None:
        """Queue a fault; each queued fault answers exactly one chat request (to `deployment`
        only, when given)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
        self._faults.extend([(kind, deployment)] * times)

    def _next_fault(self, deployment: Any) -> str | None:
        if deployment in self.failing:
            return self.failing[deployment]
        for queued in self._faults:
            if queued[1] in (None, deployment):
                self._faults.remove(queued)
                return queued[0]
        return None

    def reset(self) -> None:
        """Back to defaults: default responder, no faults, no modes, empty recordings."""
        self.responder = self._default_responder
        self.reject_temperature_always = False
        self.reject_max_tokens_always = False
        self.refuse_images = False
        self.structured_outputs_since = "2024-08-01"
        self.failing.clear()
        self.json_object_only = False
        self.delay_seconds = 0.0
        self.cache_min_tokens = CACHE_MIN_TOKENS
        self._cached_prompts.clear()
        self.requests.clear()
        self.images.clear()
        self.usages.clear()
        self.unhandled.clear()
        self._faults.clear()

    @staticmethod
    def _default_responder(body: JSON) -> str:
        return "Hello from the fake."

    @property
    def pending_faults(self) -> list[str]:
        return [kind for kind, _ in self._faults]

    async def wait_for_requests(self, count: int, timeout: float = 10) -> list[JSON]:
        """Wait until at least ``count`` requests arrived; return the first ``count``."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.requests) < count:
                    event = self._changed
                    await event.wait()
        except TimeoutError:
            raise TimeoutError(
                f"timed out after {timeout}s: {len(self.requests)} of {count} requests"
            ) from None
        return self.requests[:count]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ response shapes

    def completion(self, content: str | None, body: JSON, finish_reason: str = "stop") -> JSON:
        """A full ``chat.completion`` body as Azure returns it."""
        prompt_text = "".join(_text_of(m.get("content")) for m in body.get("messages", []))
        prompt_tokens = estimate_tokens(prompt_text) + sum(
            image_tokens(describe_image(part)) for part in image_parts(body)
        )
        completion_tokens = estimate_tokens(content or "")
        cached_tokens = self._cached_tokens(prompt_text, prompt_tokens)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:29]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "system_fingerprint": "fp_fake0000",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": None,
                        "annotations": [],
                    },
                    "finish_reason": finish_reason,
                    "logprobs": None,
                    "content_filter_results": _output_filter_results(
                        violence=finish_reason == "content_filter"
                    ),
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "prompt_filter_results": [
                {"prompt_index": 0, "content_filter_results": _prompt_filter_results()}
            ],
        }

    def _cached_tokens(self, prompt_text: str, prompt_tokens: int) -> int:
        """The prompt's tokens served from the cache: its longest beginning shared with an
        earlier prompt, in whole steps, once the prompt is long enough to be cached."""
        if prompt_tokens < self.cache_min_tokens:
            return 0
        shared = max(
            (_shared_prefix(prompt_text, seen) for seen in self._cached_prompts),
            default=0,
        )
        self._cached_prompts.append(prompt_text)
        steps = (shared // 4) // CACHE_STEP_TOKENS
        return min(steps * CACHE_STEP_TOKENS, prompt_tokens)

    @staticmethod
    def _temperature_error(value: Any) -> web.Response:
        return _json(
            {
                "error": {
                    "message": f"Unsupported value: 'temperature' does not support {value} with "
                    "this model. Only the default (1) value is supported.",
                    "type": "invalid_request_error",
                    "param": "temperature",
                    "code": "unsupported_value",
                }
            },
            400,
        )

    @staticmethod
    def _refuses_json_schema(body: JSON) -> web.Response | None:
        """What a server without structured outputs answers: a strict JSON schema is refused,
        and `json_object` needs the word JSON in the messages (OpenAI's own rule)."""
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            return _json(
                {
                    "error": {
                        "message": "Invalid parameter: 'response_format' of type 'json_schema' "
                        "is not supported with this model.",
                        "type": "invalid_request_error",
                        "param": "response_format",
                        "code": None,
                    }
                },
                400,
            )
        said = "".join(_text_of(m.get("content")) for m in body["messages"]).lower()
        if response_format.get("type") == "json_object" and "json" not in said:
            return _json(
                {
                    "error": {
                        "message": "'messages' must contain the word 'json' in some form, to use "
                        "'response_format' of type 'json_object'.",
                        "type": "invalid_request_error",
                        "param": "messages",
                        "code": None,
                    }
                },
                400,
            )
        return None

    # ------------------------------------------------------------------ handlers

    async def _unknown(self, request: web.Request) -> web.Response:
        self.unhandled.append(f"{request.method} {request.path}")
        self._notify()
        return _json({"error": {"code": "404", "message": "Resource not found"}}, 404)

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        try:
            body: Any = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = raw
        v1 = "deployment" not in request.match_info
        model = body.get("model") if isinstance(body, dict) else None
        api = "openai" if request.path.startswith("/v1/") else ("v1" if v1 else "dated")
        record: JSON = {
            "path": request.path,
            "api": api,
            "deployment": model if v1 else request.match_info["deployment"],
            "query": dict(request.query),
            "headers": dict(request.headers),
            "json": body,
            "status": None,
            "images": [describe_image(part) for part in image_parts(body)],
        }
        self.images.extend(record["images"])
        self.requests.append(record)
        self._notify()
        response = await self._answer(request, body, record["deployment"], v1=v1)
        record["status"] = response.status
        self._notify()
        return response

    def _authorized(self, request: web.Request, *, v1: bool) -> bool:
        if request.headers.get("api-key") == self.api_key:
            return True
        return v1 and request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _refuses_schema(self, request: web.Request, body: JSON, *, v1: bool) -> bool:
        """A dated api-version older than structured outputs, asked for a JSON schema."""
        response_format = body.get("response_format") or {}
        if v1 or response_format.get("type") != "json_schema":
            return False
        return request.query.get("api-version", "")[:10] < self.structured_outputs_since

    async def _answer(
        self, request: web.Request, body: Any, deployment: Any, *, v1: bool
    ) -> web.StreamResponse:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if not self._authorized(request, v1=v1):
            return _json(
                {
                    "error": {
                        "code": "401",
                        "message": "Access denied due to invalid subscription key or wrong API "
                        "endpoint. Make sure to provide a valid key for an active subscription "
                        "and use a correct regional API endpoint for your resource.",
                    }
                },
                401,
            )
        if not v1 and "api-version" not in request.query:
            return _json(
                {
                    "error": {
                        "code": "404",
                        "message": "Resource not found",
                    }
                },
                404,
            )
        if deployment not in self.deployments:
            return _json(
                {
                    "error": {
                        "code": "DeploymentNotFound",
                        "message": "The API deployment for this resource does not exist. If you "
                        "created the deployment within the last 5 minutes, please wait a moment "
                        "and try again.",
                    }
                },
                404,
            )
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _json(
                {
                    "error": {
                        "message": "'messages' is a required property",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
                400,
            )

        if self._refuses_schema(request, body, v1=v1):
            version = request.query["api-version"]
            return _json(
                {
                    "error": {
                        "message": "response_format value as json_schema is enabled only for "
                        f"api versions {self.structured_outputs_since}-preview and later "
                        f"(request id: {uuid.uuid4().hex}; api-version {version})",
                        "type": "",
                        "param": "",
                        "code": "BadRequest",
                    }
                },
                400,
            )
        if self.refuse_images and image_parts(body):
            return _json(
                {
                    "error": {
                        "message": "Invalid content type. image_url is only supported by "
                        "certain models.",
                        "type": "invalid_request_error",
                        "param": "messages.[1].content.[1].type",
                        "code": None,
                    }
                },
                400,
            )
        if self.json_object_only and (refusal := self._refuses_json_schema(body)) is not None:
            return refusal
        fault = self._next_fault(deployment)
        temperature = body.get("temperature")
        if (fault == "reject_temperature" or self.reject_temperature_always) and (
            temperature is not None and temperature != 1
        ):
            return self._temperature_error(temperature)
        if self.reject_max_tokens_always and "max_tokens" in body:
            return _json(
                {
                    "error": {
                        "message": "Unsupported parameter: 'max_tokens' is not supported with "
                        "this model. Use 'max_completion_tokens' instead.",
                        "type": "invalid_request_error",
                        "param": "max_tokens",
                        "code": "unsupported_parameter",
                    }
                },
                400,
            )
        if fault == "429":
            return _json(
                {
                    "error": {
                        "code": "429",
                        "message": "Requests to the ChatCompletions_Create Operation under Azure "
                        "OpenAI API version 2024-10-21 have exceeded token rate limit of your "
                        "current OpenAI S0 pricing tier. Please retry after 1 second.",
                    }
                },
                429,
                {"retry-after": "0", "retry-after-ms": "1", "x-ratelimit-remaining-tokens": "0"},
            )
        if fault == "500":
            return _json(
                {
                    "error": {
                        "message": "The server had an error while processing your request. "
                        "Sorry about that!",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
                500,
            )
        if fault == "503":
            return _json(
                {
                    "error": {
                        "code": "ServiceUnavailable",
                        "message": "The service is temporarily unable to process your request. "
                        "Please try again later.",
                    }
                },
                503,
                {"retry-after": "0", "retry-after-ms": "1"},
            )
        if fault == "hang":
            # Far longer than any client timeout, but released as soon as the fake stops.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3600):
                    await self._stopping.wait()
            return _json({"error": {"code": "Timeout", "message": "fake stopped"}}, 408)
        if fault == "content_filter_prompt":
            return _json(
                {
                    "error": {
                        "message": "The response was filtered due to the prompt triggering Azure "
                        "OpenAI's content management policy. Please modify your prompt and retry. "
                        "To learn more about our content filtering policies please read our "
                        "documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
                        "type": None,
                        "param": "prompt",
                        "code": "content_filter",
                        "status": 400,
                        "innererror": {
                            "code": "ResponsibleAIPolicyViolation",
                            "content_filter_result": _prompt_filter_results(jailbreak=True),
                        },
                    }
                },
                400,
            )
        if fault == "content_filter_output":
            completion = self.completion("", body, finish_reason="content_filter")
        elif fault == "malformed":
            completion = self.completion(MALFORMED_CONTENT, body)
        else:
            answer = self.responder(body)
            completion = self.completion(answer, body) if isinstance(answer, str) else answer
        self.usages.append(completion.get("usage"))
        if body.get("stream"):
            return await self._send_stream(request, completion)
        return _json(completion)

    async def _send_stream(self, request: web.Request, completion: JSON) -> web.StreamResponse:
        """Server-sent events as Azure streams them (a filter-results chunk first)."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        base = {
            "id": completion.get("id", "chatcmpl-fake"),
            "object": "chat.completion.chunk",
            "created": completion.get("created", int(time.time())),
            "model": completion.get("model", self.model_name),
            "system_fingerprint": completion.get("system_fingerprint"),
        }
        choice = completion["choices"][0]
        content = choice["message"].get("content") or ""
        chunks: list[JSON] = [
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": completion.get("prompt_filter_results", []),
            },
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                        "finish_reason": None,
                        "logprobs": None,
                        "content_filter_results": {},
                    }
                ],
            },
        ]
        step = max(1, math.ceil(len(content) / 3))
        for start in range(0, len(content), step):
            chunks.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": content[start : start + step]},
                            "finish_reason": None,
                            "logprobs": None,
                            "content_filter_results": _output_filter_results(),
                        }
                    ],
                }
            )
        chunks.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {},
                        "finish_reason": choice.get("finish_reason", "stop"),
                        "logprobs": None,
                        "content_filter_results": choice.get("content_filter_results", {}),
                    }
                ],
                "usage": completion.get("usage"),
            }
        )
        for chunk in chunks:
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


__all__ = [
    "FAULT_KINDS",
    "MALFORMED_CONTENT",
    "FakeAzureOpenAI",
    "describe_image",
    "estimate_tokens",
    "image_parts",
    "image_tokens",
]
