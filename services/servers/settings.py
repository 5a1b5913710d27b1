"""Each server's own settings: the channels it watches, how often the bot speaks there, who the
bot is there (its character), and what its chat may spend in Azure tokens a day (its budget).

They live in the `guild_settings` document of the server (beside the temperature base), so
they survive restarts and reach whichever process owns the server's shard. The reply path
reads them from memory only: every document is loaded at start (`load_all`), a server's again
when it becomes available on this process (`load`), and a change made here updates memory
as soon as the store has it, so it is in force for the next message.

The operator's values are the defaults: the channels in CHANNEL_ID stay watched unless the
server unwatches them, REPLY_EVERY is the pace wherever nothing else is chosen, and
DAILY_TOKENS_PER_SERVER is both the default budget and the most a server may choose.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from services.conversation.temperature import GuildSettingsRepository
from services.state import VERSION_FIELD, versioned
from services.store import Document, StateStore

log = logging.getLogger(__name__)

MIN_EVERY, MAX_EVERY = 2, 50
# Discord's limit for a nickname, and the for what the server writes about the bot.
MAX_NAME, MAX_DESCRIPTION = 32, 1000
MENTIONS_ONLY: Final[Literal["mentions-only"]] = "mentions-only"
# Every Nth counted message, or only when a member addresses the bot.
Pace = int | Literal["mentions-only"]
Source = Literal["operator", "server", "channel"]

# The document fields this module owns; the temperature base is not one of them.
_WATCHED, _UNWATCHED, _PACE, _CHANNEL_PACE = "watched", "unwatched", "pace", "channel_pace"
_CHARACTER, _CHANNEL_CHARACTER = "character", "channel_character"
_BUDGET, _MEMBER_BUDGET = "tokens_per_day", "tokens_per_member"
_OWN_FIELDS = (
    _WATCHED,
    _UNWATCHED,
    _PACE,
    _CHANNEL_PACE,
    _CHARACTER,
    _CHANNEL_CHARACTER,
    _BUDGET,
    _MEMBER_BUDGET,
)


def is_pace(value: object) -> bool:
    if value == MENTIONS_ONLY:
        return True
    return (
        isinstance(value, int) and not isinstance(value, bool) and MIN_EVERY <= value <= MAX_EVERY
    )


@dataclass(frozen=True)
class Character:
    """Who the bot is in a server or a channel: a name, and the server's own description of
    how it talks. The server's words, so they shape replies but never replace the bot's rules."""

    name: str
    description: str

    @classmethod
    def checked(cls, name: str, description: str) -> Character:
        """Trimmed; ValueError names what is wrong (empty, or over a limit)."""
        name, description = " ".join(name.split()), description.strip()
        if not name or not description:
            raise ValueError("a character has a name and a description")
        if len(name) > MAX_NAME or len(description) > MAX_DESCRIPTION:
            raise ValueError(
                f"a name is at most {MAX_NAME} characters, a description {MAX_DESCRIPTION}"
            )
        return cls(name, description)

    @classmethod
    def from_field(cls, value: object) -> Character | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls.checked(str(value.get("name", "")), str(value.get("description", "")))
        except ValueError:
            return None

    def field(self) -> dict[str, str]:
        return {"name": self.name, "description": self.description}


def _positive(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


@dataclass(frozen=True)
class ServerChoices:
    """What one server chose; empty means the operator's defaults everywhere."""

    watched: frozenset[int] = frozenset()  # channels added with /setup watch
    unwatched: frozenset[int] = frozenset()  # operator channels turned off with /setup unwatch
    pace: Pace | None = None  # None: the operator's REPLY_EVERY
    channel_pace: Mapping[int, Pace] = field(default_factory=dict)
    character: Character | None = None  # None: the bot as it is everywhere
    channel_character: Mapping[int, Character] = field(default_factory=dict)
    tokens_per_day: int | None = None  # None: the operator's DAILY_TOKENS_PER_SERVER
    tokens_per_member: int | None = None  # None: no cap per member

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
        channel_character: dict[int, Character] = {}
        stored = document.get(_CHANNEL_CHARACTER)
        if isinstance(stored, dict):
            for key, value in stored.items():
                character = Character.from_field(value)
                if str(key).isdigit() and character is not None:
                    channel_character[int(key)] = character
        return cls(
            watched=ids(_WATCHED),
            unwatched=ids(_UNWATCHED),
            pace=pace if is_pace(pace) else None,  # type: ignore[arg-type]
            channel_pace=channel_pace,
            character=Character.from_field(document.get(_CHARACTER)),
            channel_character=channel_character,
            tokens_per_day=_positive(document.get(_BUDGET)),
            tokens_per_member=_positive(document.get(_MEMBER_BUDGET)),
        )

    def fields(self) -> dict[str, object]:
        return {
            _WATCHED: sorted(self.watched),
            _UNWATCHED: sorted(self.unwatched),
            _PACE: self.pace,
            _CHANNEL_PACE: {str(k): v for k, v in sorted(self.channel_pace.items())},
            _CHARACTER: self.character.field() if self.character else None,
            _CHANNEL_CHARACTER: {
                str(k): v.field() for k, v in sorted(self.channel_character.items())
            },
            _BUDGET: self.tokens_per_day,
            _MEMBER_BUDGET: self.tokens_per_member,
        }


@dataclass(frozen=True)
class PaceSetting:
    value: Pace
    source: Source


@dataclass(frozen=True)
class CharacterSetting:
    value: Character | None  # None: the bot's own name, no description
    source: Source


@dataclass(frozen=True)
class BudgetSetting:
    """Tokens a UTC day may spend; None: no cap."""

    server: int | None
    server_source: Literal["operator", "server"]
    member: int | None


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
    character: CharacterSetting
    channel_characters: dict[int, Character]
    budget: BudgetSetting


class ServerSettings:
    def __init__(
        self,
        state: StateStore,
        *,
        default_channels: frozenset[int],
        default_every: int,
        max_tokens_per_day: int | None = None,
    ) -> None:
        self._state = state
        self.default_channels = default_channels
        self.default_every = default_every
        # The operator's DAILY_TOKENS_PER_SERVER: the default budget, and its ceiling.
        self.max_tokens_per_day = max_tokens_per_day
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

    def pace(self, guild_id: int, channel_id: int, parent_id: int | None = None) -> PaceSetting:
        """The channel's own, else (in a thread or forum post) its parent channel's, else the
        server's, else the operator's."""
        choices = self.choices(guild_id)
        for where in (channel_id, parent_id):
            if where is not None and where in choices.channel_pace:
                return PaceSetting(choices.channel_pace[where], "channel")
        if choices.pace is not None:
            return PaceSetting(choices.pace, "server")
        return PaceSetting(self.default_every, "operator")

    def every(self, guild_id: int, channel_id: int, parent_id: int | None = None) -> int | None:
        """The beat of a channel: every Nth message, or None for mentions only."""
        value = self.pace(guild_id, channel_id, parent_id).value
        return None if value == MENTIONS_ONLY else int(value)

    def character(
        self, guild_id: int, channel_id: int, parent_id: int | None = None
    ) -> CharacterSetting:
        """Looked up like the pace: the channel, its parent channel, the server."""
        choices = self.choices(guild_id)
        for where in (channel_id, parent_id):
            if where is not None and where in choices.channel_character:
                return CharacterSetting(choices.channel_character[where], "channel")
        if choices.character is not None:
            return CharacterSetting(choices.character, "server")
        return CharacterSetting(None, "operator")

    def budget(self, guild_id: int) -> BudgetSetting:
        choices = self.choices(guild_id)
        ceiling = self.max_tokens_per_day
        server = choices.tokens_per_day
        if server is not None and ceiling is not None:
            server = min(server, ceiling)  # the operator lowered the ceiling since
        member = choices.tokens_per_member
        if member is not None and server is not None:
            member = min(member, server)
        if server is None:
            return BudgetSetting(ceiling, "operator", member)
        return BudgetSetting(server, "server", member)

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
            character=self.character(guild_id, 0),
            channel_characters=dict(sorted(choices.channel_character.items())),
            budget=self.budget(guild_id),
        )

    # What /setup changes: the store first, then memory.
    async def watch(self, guild_id: int, channel_id: int) -> None:
        await self._change(
            guild_id,
            lambda c: replace(
                c,
                watched=c.watched | {channel_id}
                if channel_id not in self.default_channels
                else c.watched,
                unwatched=c.unwatched - {channel_id},
            ),
        )

    async def unwatch(self, guild_id: int, channel_id: int) -> None:
        await self._change(
            guild_id,
            lambda c: replace(
                c,
                watched=c.watched - {channel_id},
                unwatched=c.unwatched | {channel_id}
                if channel_id in self.default_channels
                else c.unwatched,
            ),
        )

    async def set_pace(self, guild_id: int, pace: Pace, channel_id: int | None = None) -> None:
        if not is_pace(pace):
            raise ValueError(f"a pace is {MIN_EVERY} to {MAX_EVERY}, or {MENTIONS_ONLY}")
        if channel_id is None:
            await self._change(guild_id, lambda c: replace(c, pace=pace))
        else:
            await self._change(
                guild_id, lambda c: replace(c, channel_pace={**c.channel_pace, channel_id: pace})
            )

    async def set_character(
        self, guild_id: int, character: Character | None, channel_id: int | None = None
    ) -> None:
        """`None`: back to the default there (the server's, or the bot's own)."""

        def change(c: ServerChoices) -> ServerChoices:
            if channel_id is None:
                return replace(c, character=character)
            per_channel = {k: v for k, v in c.channel_character.items() if k != channel_id}
            if character is not None:
                per_channel[channel_id] = character
            return replace(c, channel_character=per_channel)

        await self._change(guild_id, change)

    async def set_budget(
        self, guild_id: int, tokens_per_day: int, tokens_per_member: int | None = None
    ) -> None:
        """ValueError when a cap is not positive, or above the operator's ceiling."""
        ceiling = self.max_tokens_per_day
        if tokens_per_day <= 0 or (tokens_per_member is not None and tokens_per_member <= 0):
            raise ValueError("a budget is a positive number of tokens")
        if ceiling is not None and tokens_per_day > ceiling:
            raise ValueError(f"the operator allows at most {ceiling} tokens a day")
        await self._change(
            guild_id,
            lambda c: replace(
                c, tokens_per_day=tokens_per_day, tokens_per_member=tokens_per_member
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
