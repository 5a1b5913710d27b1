"""Prometheus metrics: the only module that touches prometheus_client.

`PrometheusTelemetry` implements the services' `Telemetry` port on a `CollectorRegistry` of
its own (never the library's global one), and `serve_metrics` serves it at `/metrics` on
`METRICS_PORT`, from the bot's event loop. Names follow Prometheus' conventions (base units,
`_seconds`, `_total`); labels are closed sets, never a user, guild or channel id.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.telemetry import CountSource, LatencySource

# Azure and ElevenLabs calls take from a few hundred milliseconds to the timeout.
_CALL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
# Store calls: an fdatasync'd append is well under a millisecond on a good disk.
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0)


class _Sampled(Collector):
    """Gauges read when scraped, from sources the bot registers once it exists."""

    def __init__(self) -> None:
        self.latencies: LatencySource = lambda: ()
        self.guilds_playing: CountSource = lambda: 0

    def collect(self) -> Iterable[Metric]:
        latency = GaugeMetricFamily(
            "bot_gateway_latency_seconds",
            "Round trip of the last gateway heartbeat, per shard.",
            labels=["shard"],
        )
        for shard, seconds in self.latencies():
            if math.isfinite(seconds):  # no heartbeat acknowledged yet: no sample
                latency.add_metric([str(shard)], seconds)
        yield latency
        yield GaugeMetricFamily(
            "bot_voice_guilds_playing",
            "Guilds where music is playing (not paused) right now.",
            value=self.guilds_playing(),
        )


class PrometheusTelemetry:
    """The `Telemetry` port, recorded in `self.registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._reconnects = Counter(
            "bot_gateway_reconnects",
            "Gateway sessions resumed or started again after a disconnection.",
            registry=r,
        )
        self._stored = Counter("bot_messages_stored", "New messages kept in the store.", registry=r)
        self._decisions = Counter(
            "bot_reply_decisions",
            "Reply decisions, by outcome (reply, silent, failed, skipped, limited).",
            ["outcome"],
            registry=r,
        )
        self._azure_calls = Counter(
            "bot_azure_requests", "Azure OpenAI calls, by kind.", ["kind"], registry=r
        )
        self._azure_errors = Counter(
            "bot_azure_errors",
            "Azure OpenAI calls that gave no usable answer, by kind and error.",
            ["kind", "error"],
            registry=r,
        )
        self._llm_calls = Counter(
            "bot_llm_calls",
            "Calls to the model server, by kind, deployment (or model) and outcome (answered, "
            "or the error: rate_limited, server_error, timeout, content_filter_prompt, ...).",
            ["kind", "deployment", "outcome"],
            registry=r,
        )
        self._azure_seconds = Histogram(
            "bot_azure_request_duration_seconds",
            "Time of an Azure OpenAI call (its retries included), by kind.",
            ["kind"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self._llm_tokens = Counter(
            "bot_llm_tokens",
            "Tokens Azure OpenAI billed, by kind (prompt, completion, cached: the prompt "
            "tokens served from its prompt cache, part of prompt).",
            ["kind"],
            registry=r,
        )
        for kind in ("prompt", "completion", "cached"):
            self._llm_tokens.labels(kind)  # all three are scraped, as 0, before the first call
        self._speech_calls = Counter(
            "bot_elevenlabs_requests", "ElevenLabs text-to-speech requests.", registry=r
        )
        self._speech_errors = Counter(
            "bot_elevenlabs_errors",
            "ElevenLabs requests that failed, by error.",
            ["error"],
            registry=r,
        )
        self._speech_seconds = Histogram(
            "bot_elevenlabs_request_duration_seconds",
            "Time of an ElevenLabs request.",
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self._store_seconds = Histogram(
            "bot_store_operation_duration_seconds",
            "Time of a store call, by operation.",
            ["operation"],
            buckets=_STORE_BUCKETS,
            registry=r,
        )
        self._sampled = _Sampled()
        r.register(self._sampled)

    def llm_call(self, kind: str, deployment: str, seconds: float, error: str | None) -> None:
        self._llm_calls.labels(kind, deployment, error or "answered").inc()
        self._azure_calls.labels(kind).inc()
        self._azure_seconds.labels(kind).observe(seconds)
        if error is not None:
            self._azure_errors.labels(kind, error).inc()

    def llm_tokens(self, prompt: int, completion: int, cached: int) -> None:
        self._llm_tokens.labels("prompt").inc(prompt)
        self._llm_tokens.labels("completion").inc(completion)
        self._llm_tokens.labels("cached").inc(cached)

    def speech_call(self, seconds: float, error: str | None) -> None:
        self._speech_calls.inc()
        self._speech_seconds.observe(seconds)
        if error is not None:
            self._speech_errors.labels(error).inc()

    def store_operation(self, operation: str, seconds: float) -> None:
        self._store_seconds.labels(operation).observe(seconds)

    def message_stored(self) -> None:
        self._stored.inc()

    def reply_decision(self, outcome: str) -> None:
        self._decisions.labels(outcome).inc()

    def gateway_reconnect(self) -> None:
        self._reconnects.inc()

    def watch_gateway(self, latencies: LatencySource) -> None:
        self._sampled.latencies = latencies

    def watch_playing(self, guilds_playing: CountSource) -> None:
        self._sampled.guilds_playing = guilds_playing


@contextlib.asynccontextmanager
async def serve_metrics(registry: CollectorRegistry, port: int) -> AsyncIterator[int]:
    """Serve `/metrics` on every interface at `port` (0: any free port); yields the port."""
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host="0.0.0.0", port=port)
        await site.start()
        bound = runner.addresses[0][1]
        yield int(bound)
    finally:
        await runner.cleanup()
