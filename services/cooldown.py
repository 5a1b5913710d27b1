"""Per-key cooldowns, so one member cannot make the bot flood a channel or a voice call."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class Cooldown:
    def __init__(
        self, seconds: float, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self._seconds = seconds
        self._clock = clock
        self._max_keys = max_keys
        self._until: dict[Hashable, float] = {}

    def remaining(self, key: Hashable) -> float:
        return max(0.0, self._until.get(key, 0.0) - self._clock())

    def try_acquire(self, key: Hashable) -> bool:
        """True, and starts the cooldown, when `key` is free; False while it is cooling down."""
        now = self._clock()
        if self._until.get(key, 0.0) > now:
            return False
        if len(self._until) >= self._max_keys:  # bounded: forget the expired ones
            self._until = {k: t for k, t in self._until.items() if t > now}
        self._until[key] = now + self._seconds
        return True
