"""Discord's overwrite algorithm, case by case (the order of the steps is what matters)."""

from __future__ import annotations

from services.discord_permissions import (
    ADMINISTRATOR,
    ALL,
    BOT_PERMISSIONS,
    CHAT_PERMISSIONS,
    CONNECT,
    EMBED_LINKS,
    MEMBER_OVERWRITE,
    READ_MESSAGE_HISTORY,
    ROLE_OVERWRITE,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    SPEAK,
    VIEW_CHANNEL,
    MemberRoles,
    Overwrite,
    channel_permissions,
    combined,
    guild_permissions,
    missing,
)

GUILD = 100
OWNER = 1
BOT = 2
ROLE_A = 10
ROLE_B = 11
CHAT = VIEW_CHANNEL | SEND_MESSAGES | SEND_MESSAGES_IN_THREADS | READ_MESSAGE_HISTORY | EMBED_LINKS


def bot(*roles: int) -> MemberRoles:
    return MemberRoles(guild_id=GUILD, owner_id=OWNER, member_id=BOT, role_ids=frozenset(roles))


def role(target: int, *, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(target, ROLE_OVERWRITE, allow, deny)


def member(target: int, *, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(target, MEMBER_OVERWRITE, allow, deny)


def test_guild_permissions_are_everyone_or_the_roles() -> None:
    roles = {GUILD: VIEW_CHANNEL, ROLE_A: SEND_MESSAGES, ROLE_B: EMBED_LINKS}
    assert guild_permissions(bot(ROLE_A), roles) == VIEW_CHANNEL | SEND_MESSAGES
    assert guild_permissions(bot(), roles) == VIEW_CHANNEL


def test_administrator_and_the_owner_have_everything_whatever_the_overwrites() -> None:
    roles = {GUILD: 0, ROLE_A: ADMINISTRATOR}
    deny_all = [role(GUILD, deny=ALL), member(BOT, deny=ALL)]
    assert channel_permissions(bot(ROLE_A), roles, deny_all) == ALL
    owner = MemberRoles(guild_id=GUILD, owner_id=BOT, member_id=BOT, role_ids=frozenset())
    assert channel_permissions(owner, roles, deny_all) == ALL


def test_everyone_then_roles_then_member() -> None:
    roles = {GUILD: CHAT, ROLE_A: 0}
    # @everyone denies sending, a role of the bot allows it again: allowed.
    overwrites = [role(GUILD, deny=SEND_MESSAGES), role(ROLE_A, allow=SEND_MESSAGES)]
    assert channel_permissions(bot(ROLE_A), roles, overwrites) & SEND_MESSAGES
    # ... and the member's own overwrite has the last word.
    overwrites.append(member(BOT, deny=SEND_MESSAGES))
    assert not channel_permissions(bot(ROLE_A), roles, overwrites) & SEND_MESSAGES


def test_role_allows_win_over_role_denies() -> None:
    roles = {GUILD: CHAT, ROLE_A: 0, ROLE_B: 0}
    overwrites = [role(ROLE_A, deny=EMBED_LINKS), role(ROLE_B, allow=EMBED_LINKS)]
    assert channel_permissions(bot(ROLE_A, ROLE_B), roles, overwrites) & EMBED_LINKS


def test_overwrites_of_other_roles_and_members_do_not_apply() -> None:
    roles = {GUILD: CHAT, ROLE_A: 0}
    overwrites = [role(ROLE_B, deny=ALL), member(OWNER, deny=ALL)]
    assert channel_permissions(bot(ROLE_A), roles, overwrites) == CHAT


def test_without_view_channel_nothing_counts() -> None:
    roles = {GUILD: CHAT}
    perms = channel_permissions(bot(), roles, [role(GUILD, deny=VIEW_CHANNEL)])
    assert perms == 0
    assert missing(perms, CHAT_PERMISSIONS) == list(CHAT_PERMISSIONS)


def test_missing_names_what_lacks_in_order() -> None:
    perms = VIEW_CHANNEL | READ_MESSAGE_HISTORY
    assert missing(perms, CHAT_PERMISSIONS) == [
        "Send Messages",
        "Send Messages in Threads",
        "Embed Links",
    ]


def test_overwrites_parse_from_the_rest_payload() -> None:
    parsed = Overwrite.from_payload({"id": "10", "type": 0, "allow": "2048", "deny": "0"})
    assert parsed == Overwrite(10, ROLE_OVERWRITE, SEND_MESSAGES, 0)


def test_the_invite_asks_for_chat_and_voice_once_each() -> None:
    assert combined(BOT_PERMISSIONS) == CHAT | CONNECT | SPEAK
    assert list(BOT_PERMISSIONS) == [*CHAT_PERMISSIONS, "Connect", "Speak"]
    assert missing(combined(BOT_PERMISSIONS), BOT_PERMISSIONS) == []
