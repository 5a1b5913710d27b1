"""Each server's own settings: the channels it watches and how often the bot speaks there.

They live in the `guild_settings` document of the server (beside the temperature base), so
they survive restarts and reach whichever process owns the server's shard. The reply path
reads them from memory only: every document is loaded at start (`load_all`), a server's again
when it becomes available on this process (`load`), and a change made here updates memory
as soon as the store has it, so it is in force for the next message.

The operator's values are the defaults: the channels in CHANNEL_ID stay watched unless the
server unwatches them, and REPLY_EVERY is the pace wherever nothing else is chosen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from services.conversation.temperature import GuildSettingsRepository
from services.state import VERSION_FIELD, versioned
from services.store import Document, StateStore

log = logging.getLogger(__name__)

MIN_EVERY, MAX_EVERY = 2, 50
MENTIONS_ONLY: Final[Literal["mentions-only"]] = "mentions-only"
# Every Nth counted message, or only when a member addresses the bot.
Pace = int | Literal["mentions-only"]
Source = Literal["operator", "server", "channel"]

# The document fields this module owns; the temperature base is not one of them.
_WATCHED, _UNWATCHED, _PACE, _CHANNEL_PACE = "watched", "unwatched", "pace", "channel_pace"
_OWN_FIELDS = (_WATCHED, _UNWATCHED, _PACE, _CHANNEL_PACE)


def is_pace(value: object) -> bool:
    if value == MENTIONS_ONLY:
        return True
    return (
        isinstance(value, int) and not isinstance(value, bool) and MIN_EVERY <= value <= MAX_EVERY
    )


@dataclass(frozen=True)
class ServerChoices:
    """What one server chose; empty means the operator's defaults everywhere."""

    watched: frozenset[int] = frozenset()  # channels added with /setup watch
    unwatched: frozenset[int] = frozenset()  # operator channels turned off with /setup unwatch
    pace: Pace | None = None  # None: the operator's REPLY_EVERY
    channel_pace: Mapping[int, Pace] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Mapping[str, object] | None) -> ServerChoices:
        """Forgiving, like every state document: a field that does not parse is the default."""
        document = document or {}

        def ids(name: str) -> frozenset[int]:
            value = document.get(name)
            if not isinstance(value, list):
                return frozenset()
            return frozenset(int(v) for v in value if isinstance(v, int | str) and str(v).isdigit())

        pace = document.get(_PACE)
        channel_pace: dict[int, Pace] = {}
        stored = document.get(_CHANNEL_PACE)
        if isinstance(stored, dict):
            for key, value in stored.items():
                if str(key).isdigit() and is_pace(value):
                    channel_pace[int(key)] = value
        return cls(
            watched=ids(_WATCHED),
            unwatched=ids(_UNWATCHED),
            pace=pace if is_pace(pace) else None,  # type: ignore[arg-type]
            channel_pace=channel_pace,
        )

    def fields(self) -> dict[str, object]:
        return {
            _WATCHED: sorted(self.watched),
            _UNWATCHED: sorted(self.unwatched),
            _PACE: self.pace,
            _CHANNEL_PACE: {str(k): v for k, v in sorted(self.channel_pace.items())},
        }


@dataclass(frozen=True)
class PaceSetting:
    value: Pace
    source: Source


@dataclass(frozen=True)
class WatchedChannel:
    channel_id: int
    source: Literal["operator", "server"]


@dataclass(frozen=True)
class SettingsOverview:
    """Every setting of a server and where each value comes from, for /setup show."""

    channels: list[WatchedChannel]
    unwatched: list[int]  # operator channels this server turned off
    pace: PaceSetting
    channel_paces: dict[int, Pace]


class ServerSettings:
    def __init__(
        self, state: StateStore, *, default_channels: frozenset[int], default_every: int
    ) -> None:
        self._state = state
        self.default_channels = default_channels
        self.default_every = default_every
        self._choices: dict[int, ServerChoices] = {}

    async def load_all(self) -> None:
        """Read every server's choices; call once before the first message."""
        for key, document in await self._state.state_items(GuildSettingsRepository.KIND):
            if key.isdigit():
                self._choices[int(key)] = ServerChoices.from_document(document)

    async def load(self, guild_id: int) -> None:
        """Read one server's choices again (it may have moved here from another process)."""
        document = await self._state.get_state(GuildSettingsRepository.KIND, str(guild_id))
        self._remember(guild_id, document)

    def _remember(self, guild_id: int, document: Document | None) -> None:
        choices = ServerChoices.from_document(document)
        if choices == ServerChoices():
            self._choices.pop(guild_id, None)
        else:
            self._choices[guild_id] = choices

    def choices(self, guild_id: int) -> ServerChoices:
        return self._choices.get(guild_id) or ServerChoices()

    # What the reply path asks, from memory.
    def watched_by(self, guild_id: int) -> frozenset[int]:
        """The channels watched in this server beyond CHANNEL_ID's."""
        return self.choices(guild_id).watched

    def unwatched_by(self, guild_id: int) -> frozenset[int]:
        return self.choices(guild_id).unwatched

    def pace(self, guild_id: int, channel_id: int) -> PaceSetting:
        choices = self.choices(guild_id)
        if channel_id in choices.channel_pace:
            return PaceSetting(choices.channel_pace[channel_id], "channel")
        if choices.pace is not None:
            return PaceSetting(choices.pace, "server")
        return PaceSetting(self.default_every, "operator")

    def every(self, guild_id: int, channel_id: int) -> int | None:
        """The beat of a channel: every Nth message, or None for mentions only."""
        value = self.pace(guild_id, channel_id).value
        return None if value == MENTIONS_ONLY else int(value)

    def overview(self, guild_id: int, operator_channels: frozenset[int]) -> SettingsOverview:
        """`operator_channels`: the CHANNEL_ID channels that are in this server."""
        choices = self.choices(guild_id)
        channels = [
            WatchedChannel(c, "operator") for c in sorted(operator_channels - choices.unwatched)
        ] + [WatchedChannel(c, "server") for c in sorted(choices.watched - operator_channels)]
        return SettingsOverview(
            channels=channels,
            unwatched=sorted(choices.unwatched & operator_channels),
            pace=self.pace(guild_id, 0),
            channel_paces=dict(sorted(choices.channel_pace.items())),
        )

    # What /setup changes: the store first, then memory.
    async def watch(self, guild_id: int, channel_id: int) -> None:
        await self._change(
            guild_id,
            lambda c: ServerChoices(
                watched=c.watched | {channel_id}
                if channel_id not in self.default_channels
                else c.watched,
                unwatched=c.unwatched - {channel_id},
                pace=c.pace,
                channel_pace=c.channel_pace,
            ),
        )

    async def unwatch(self, guild_id: int, channel_id: int) -> None:
        await self._change(
            guild_id,
            lambda c: ServerChoices(
                watched=c.watched - {channel_id},
                unwatched=c.unwatched | {channel_id}
                if channel_id in self.default_channels
                else c.unwatched,
                pace=c.pace,
                channel_pace=c.channel_pace,
            ),
        )

    async def set_pace(self, guild_id: int, pace: Pace, channel_id: int | None = None) -> None:
        if not is_pace(pace):
            raise ValueError(f"a pace is {MIN_EVERY} to {MAX_EVERY}, or {MENTIONS_ONLY}")
        if channel_id is None:
            await self._change(
                guild_id,
                lambda c: ServerChoices(c.watched, c.unwatched, pace, c.channel_pace),
            )
        else:
            await self._change(
                guild_id,
                lambda c: ServerChoices(
                    c.watched, c.unwatched, c.pace, {**c.channel_pace, channel_id: pace}
                ),
            )

    async def reset(self, guild_id: int) -> None:
        """Back to the operator's defaults (the temperature base is /temperature-set's)."""
        await self._change(guild_id, lambda c: ServerChoices())

    async def forget(self, guild_id: int) -> bool:
        """Delete the server's whole settings document (every field of it, the temperature
        base's too): the bot left the server. True when there was one."""
        found = await self._state.delete_state(GuildSettingsRepository.KIND, str(guild_id))
        self._choices.pop(guild_id, None)
        return found

    async def _change(
        self, guild_id: int, change: Callable[[ServerChoices], ServerChoices]
    ) -> None:
        def apply(document: Document | None) -> Document | None:
            current = ServerChoices.from_document(document)
            kept = {
                k: v
                for k, v in (document or {}).items()
                if k not in _OWN_FIELDS and k != VERSION_FIELD
            }
            updated = change(current)
            if updated == ServerChoices() and not kept:
                return None
            fields = kept if updated == ServerChoices() else {**kept, **updated.fields()}
            return versioned(GuildSettingsRepository.VERSION, fields)

        stored = await self._state.update_state(GuildSettingsRepository.KIND, str(guild_id), apply)
        self._remember(guild_id, stored)
        log.info("guild %s settings changed", guild_id)
