"""The response temperature: the server's base, nudged by the member's persona, clamped."""

from __future__ import annotations

from dataclasses import dataclass

from services.state import versioned
from services.store import StateKind, StateStore

DEFAULT_BASE = 0.8
MIN_BASE, MAX_BASE = 0.0, 2.0
# A persona nudges the base by at most this much, and replies stay within these bounds:
# below 0.2 they turn repetitive, above 1.5 they stop making sense.
MAX_ADJUSTMENT = 0.3
MIN_EFFECTIVE, MAX_EFFECTIVE = 0.2, 1.5


@dataclass(frozen=True)
class Temperature:
    """The effective value and how it came about, so /temperature can explain it."""

    base: float
    base_is_default: bool
    adjustment: float
    value: float
    clamped: bool


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


class GuildSettingsRepository:
    """The `guild_settings` documents, one per guild: today the temperature base (None: the
    default). Fields this release does not know are kept as they are."""

    KIND: StateKind = "guild_settings"
    VERSION = 1

    def __init__(self, state: StateStore) -> None:
        self._state = state

    async def temperature(self, guild_id: int) -> float | None:
        document = await self._state.get_state(self.KIND, str(guild_id)) or {}
        value = document.get("temperature")
        return float(value) if isinstance(value, int | float) else None

    async def set_temperature(self, guild_id: int, value: float | None) -> None:
        def change(document: dict[str, object] | None) -> dict[str, object]:
            return versioned(self.VERSION, {**(document or {}), "temperature": value})

        await self._state.update_state(self.KIND, str(guild_id), change)


class TemperatureSettings:
    def __init__(self, guild_settings: GuildSettingsRepository) -> None:
        self._guild_settings = guild_settings

    async def base(self, guild_id: int) -> float | None:
        return await self._guild_settings.temperature(guild_id)

    async def set_base(self, guild_id: int, value: float | None) -> None:
        """Set the server's base (None: back to the default)."""
        if value is not None and not MIN_BASE <= value <= MAX_BASE:
            raise ValueError(f"temperature must be between {MIN_BASE} and {MAX_BASE}")
        await self._guild_settings.set_temperature(guild_id, value)

    async def effective(self, guild_id: int, suggested: float | None) -> Temperature:
        stored = await self.base(guild_id)
        base = DEFAULT_BASE if stored is None else stored
        adjustment = 0.0
        if suggested is not None:
            adjustment = round(_clamp(suggested - DEFAULT_BASE, -MAX_ADJUSTMENT, MAX_ADJUSTMENT), 2)
        raw = base + adjustment
        value = round(_clamp(raw, MIN_EFFECTIVE, MAX_EFFECTIVE), 2)
        return Temperature(
            base=base,
            base_is_default=stored is None,
            adjustment=adjustment,
            value=value,
            clamped=abs(value - round(raw, 2)) > 1e-9,
        )
