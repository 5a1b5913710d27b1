"""What the bot reports about itself, as a small port: the services know nothing of Prometheus.

Each service takes a `Telemetry` in its constructor (`NO_TELEMETRY`, which does nothing, by
default); the composition root hands them the Prometheus one (`app/metrics.py`) when
`METRICS_PORT` is set. Labels are small closed sets (a kind of call, an outcome, an error
kind): never a user, guild or channel id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

# (shard id, seconds): the gateway's heartbeat round trip per shard, read when scraped.
LatencySource = Callable[[], Iterable[tuple[int, float]]]
# How many guilds are playing music right now, read when scraped.
CountSource = Callable[[], int]


class Telemetry(Protocol):
    def llm_call(self, kind: str, deployment: str, seconds: float, error: str | None) -> None:
        """One call to the model server (`kind`: what it was for) on `deployment` (the Azure
        deployment's or the model's name, from the settings: a closed set); `error`: an
        `LlmError` kind, None when it answered."""

    def llm_tokens(self, prompt: int, completion: int, cached: int) -> None:
        """Tokens one model call was billed for (`cached`: of the prompt's, those served
        from the server's prompt cache)."""

    def speech_call(self, seconds: float, error: str | None) -> None:
        """One ElevenLabs request; `error`: a `SpeechError` kind."""

    def store_operation(self, operation: str, seconds: float) -> None:
        """One call of the message store (`operation`: its method's name)."""

    def message_stored(self) -> None:
        """A new message was stored (a replayed one is not counted)."""

    def reply_decision(self, outcome: str) -> None:
        """A reply decision ended with `outcome` (reply, silent, failed, skipped, limited,
        resting)."""

    def gateway_reconnect(self) -> None:
        """The gateway session came back after a disconnection (resumed or new)."""

    def watch_gateway(self, latencies: LatencySource) -> None:
        """Where the gateway latency is read from, at each scrape."""

    def watch_playing(self, guilds_playing: CountSource) -> None:
        """Where the number of guilds playing music is read from, at each scrape."""


class NoTelemetry:
    """The default: nothing is measured."""

    def llm_call(self, kind: str, deployment: str, seconds: float, error: str | None) -> None:
        return None

    def llm_tokens(self, prompt: int, completion: int, cached: int) -> None:
        return None

    def speech_call(self, seconds: float, error: str | None) -> None:
        return None

    def store_operation(self, operation: str, seconds: float) -> None:
        return None

    def message_stored(self) -> None:
        return None

    def reply_decision(self, outcome: str) -> None:
        return None

    def gateway_reconnect(self) -> None:
        return None

    def watch_gateway(self, latencies: LatencySource) -> None:
        return None

    def watch_playing(self, guilds_playing: CountSource) -> None:
        return None


NO_TELEMETRY: Telemetry = NoTelemetry()
