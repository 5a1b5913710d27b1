"""Discord's permission arithmetic, on plain ints and dicts (no Discord objects).

The algorithm is Discord's ("Permission Overwrites" in the developer docs): a member's guild
permissions are the @everyone role's (its id is the guild's) OR'ed with their roles'; the
owner and anyone with Administrator have everything. In a channel, the overwrites then apply
in order: @everyone's, then the member's roles' (their denies combined, then their allows
combined), then the member's own. Without View Channel, nothing else in the channel counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
READ_MESSAGE_HISTORY = 1 << 16
CONNECT = 1 << 20
SPEAK = 1 << 21
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL = (1 << 53) - 1  # every bit Discord defines today, and room for more

# What the bot needs, by the names the Discord client shows.
CHAT_PERMISSIONS: dict[str, int] = {
    "View Channel": VIEW_CHANNEL,
    "Send Messages": SEND_MESSAGES,
    "Send Messages in Threads": SEND_MESSAGES_IN_THREADS,
    "Read Message History": READ_MESSAGE_HISTORY,
    "Embed Links": EMBED_LINKS,
}
VOICE_PERMISSIONS: dict[str, int] = {
    "View Channel": VIEW_CHANNEL,
    "Connect": CONNECT,
    "Speak": SPEAK,
}
# Everything the bot needs somewhere: what `python -m app invite` asks for.
BOT_PERMISSIONS: dict[str, int] = {**CHAT_PERMISSIONS, **VOICE_PERMISSIONS}

ROLE_OVERWRITE = 0
MEMBER_OVERWRITE = 1


@dataclass(frozen=True, slots=True)
class Overwrite:
    target_id: int
    kind: int  # ROLE_OVERWRITE or MEMBER_OVERWRITE
    allow: int
    deny: int

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Overwrite:
        """One entry of a channel's `permission_overwrites`, as the REST API returns it."""
        return cls(
            target_id=int(data["id"]),
            kind=int(data.get("type", ROLE_OVERWRITE)),
            allow=int(data.get("allow", 0)),
            deny=int(data.get("deny", 0)),
        )


@dataclass(frozen=True, slots=True)
class MemberRoles:
    """Who the permissions are computed for, in which guild."""

    guild_id: int
    owner_id: int
    member_id: int
    role_ids: frozenset[int]


def guild_permissions(member: MemberRoles, role_permissions: Mapping[int, int]) -> int:
    """The member's permissions in the guild, before any channel overwrite."""
    if member.member_id == member.owner_id:
        return ALL
    permissions = role_permissions.get(member.guild_id, 0)  # @everyone
    for role_id in member.role_ids:
        permissions |= role_permissions.get(role_id, 0)
    if permissions & ADMINISTRATOR:
        return ALL
    return permissions


def channel_permissions(
    member: MemberRoles, role_permissions: Mapping[int, int], overwrites: Iterable[Overwrite]
) -> int:
    """The member's permissions in one channel of the guild."""
    permissions = guild_permissions(member, role_permissions)
    if permissions & ADMINISTRATOR or permissions == ALL:
        return ALL
    by_target = {(o.kind, o.target_id): o for o in overwrites}
    everyone = by_target.get((ROLE_OVERWRITE, member.guild_id))
    if everyone is not None:
        permissions = (permissions & ~everyone.deny) | everyone.allow
    role_allow = role_deny = 0
    for role_id in member.role_ids:
        overwrite = by_target.get((ROLE_OVERWRITE, role_id))
        if overwrite is not None:
            role_allow |= overwrite.allow
            role_deny |= overwrite.deny
    permissions = (permissions & ~role_deny) | role_allow
    own = by_target.get((MEMBER_OVERWRITE, member.member_id))
    if own is not None:
        permissions = (permissions & ~own.deny) | own.allow
    if not permissions & VIEW_CHANNEL:
        return 0  # a channel one cannot see grants nothing
    return permissions


def missing(permissions: int, needed: Mapping[str, int]) -> list[str]:
    """The names of the needed permissions that `permissions` lacks, in `needed`'s order."""
    return [name for name, bit in needed.items() if not permissions & bit]


def combined(needed: Mapping[str, int]) -> int:
    """The needed permissions as one integer, as an invite URL's `permissions` carries them."""
    bits = 0
    for bit in needed.values():
        bits |= bit
    return bits
