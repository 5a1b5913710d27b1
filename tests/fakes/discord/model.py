"""What the fake Discord stores: one guild, its users, members, channels (threads among them),
roles, messages and voice states, the bot's DM channels and the application's commands; and,
for the shard tests, other guilds (`add_guild`: their own id and text channels, the same
members, no voice or threads).

Channels, roles and messages are kept as the JSON Discord returns for them (and mutated in
place, e.g. ``last_message_id``); the payloads derived from the rest live in ``payloads.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.fakes.discord.protocol import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    BOT_ROLE_PERMISSIONS,
    DISCORD_EPOCH_MS,
    EVERYONE_PERMISSIONS,
    JSON,
    now_iso,
)


@dataclass
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Member:
    user: FakeUser
    roles: list[int]
    joined_at: str
    nick: str | None = None


def role_payload(
    rid: int,
    name: str,
    permissions: int,
    position: int,
    *,
    managed: bool = False,
    tags: JSON | None = None,
) -> JSON:
    role: JSON = {
        "id": str(rid),
        "name": name,
        "description": None,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }
    if tags is not None:
        role["tags"] = tags
    return role


def text_channel_payload(guild_id: int, cid: int, name: str, position: int) -> JSON:
    return {
        "id": str(cid),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "parent_id": None,
        "topic": None,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def voice_channel_payload(guild_id: int, cid: int, name: str, position: int) -> JSON:
    return {
        "id": str(cid),
        "type": 2,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "parent_id": None,
        "bitrate": 64000,
        "user_limit": 0,
        "rtc_region": None,
        "video_quality_mode": 1,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }


STAGE_CHANNEL = 13


def stage_channel_payload(guild_id: int, cid: int, name: str, position: int) -> JSON:
    """A stage channel (type 13): a voice channel whose joiners start in the audience."""
    return {**voice_channel_payload(guild_id, cid, name, position), "type": STAGE_CHANNEL}


class Model:
    def __init__(
        self,
        *,
        token: str,
        application_id: int,
        bot_user: FakeUser,
        guild_id: int,
        guild_name: str,
        text_channels: dict[int, str],
        voice_channels: dict[int, str] | None,
        members: list[FakeUser] | None,
        owner_id: int | None,
    ) -> None:
        self.token = token  # the bot's: REST ``Authorization: Bot …``, IDENTIFY and RESUME
        self.application_id = application_id
        # GATEWAY_GUILD_MEMBERS_LIMITED (1 << 15) and GATEWAY_MESSAGE_CONTENT_LIMITED (1 << 19):
        # the intents of a bot in fewer than 100 servers, enabled in the Developer Portal.
        self.application_flags = (1 << 15) | (1 << 19)
        self.bot_user = bot_user
        self.guild_id = guild_id
        self.guild_name = guild_name
        self.owner_id = owner_id if owner_id is not None else (members[0].id if members else 1)
        self._snowflake_last = 0
        self.joined_at = now_iso()

        self.channels: dict[int, JSON] = {}
        for pos, (cid, name) in enumerate(text_channels.items()):
            self.channels[cid] = text_channel_payload(guild_id, cid, name, pos)
        for pos, (cid, name) in enumerate((voice_channels or {}).items()):
            self.channels[cid] = voice_channel_payload(guild_id, cid, name, pos)
        self.dm_channels: dict[int, JSON] = {}
        # What the CDN serves (``cdn.py``): each attachment's bytes and type, by its id.
        self.attachment_files: dict[int, tuple[bytes, str | None]] = {}
        # Threads and forum posts (channel types 11 and 12), by id; see ``threads.py``.
        self.threads: dict[int, JSON] = {}

        self.admin_role_id = self.snowflake()
        self.bot_role_id = self.snowflake()
        self.roles: dict[int, JSON] = {
            guild_id: role_payload(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
            self.admin_role_id: role_payload(self.admin_role_id, "admin", ADMINISTRATOR, 1),
            self.bot_role_id: role_payload(
                self.bot_role_id,
                bot_user.username,
                BOT_ROLE_PERMISSIONS,
                2,
                managed=True,
                tags={"bot_id": str(bot_user.id)},
            ),
        }
        self.users: dict[int, FakeUser] = {bot_user.id: bot_user}
        self.guild_members: dict[int, Member] = {}
        self.add_guild_member(bot_user, roles=[self.bot_role_id])
        for member in members or []:
            self.add_guild_member(member)

        self.messages: dict[int, JSON] = {}
        # Application commands by scope: a guild id, or None for the global ones.
        self.synced_commands: dict[int | None, list[JSON]] = {}
        # Voice: who is in which voice channel, and their voice session id and self-mute/deaf.
        self.voice_channel_of: dict[int, int] = {}
        self.voice_flags: dict[int, JSON] = {}
        # Other guilds, by id: their names, and their text channels (kept apart from the
        # first guild's `channels`, which its payloads list).
        self.other_guilds: dict[int, str] = {}
        self.other_channels: dict[int, JSON] = {}

    def snowflake(self) -> int:
        """A new increasing snowflake for the current time."""
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        value = max(value, self._snowflake_last + 1)
        self._snowflake_last = value
        return value

    def add_role(self, name: str, permissions: int) -> int:
        rid = self.snowflake()
        self.roles[rid] = role_payload(rid, name, permissions, len(self.roles))
        return rid

    def add_guild_member(
        self,
        user: FakeUser,
        *,
        admin: bool = False,
        permissions: int | None = None,
        roles: list[int] | None = None,
        nick: str | None = None,
    ) -> None:
        role_ids = list(roles or [])
        if admin:
            role_ids.append(self.admin_role_id)
        if permissions is not None:
            role_ids.append(self.add_role(f"perms-{user.username}", permissions))
        self.users[user.id] = user
        self.guild_members[user.id] = Member(user, role_ids, now_iso(), nick)

    def member_permissions(self, user_id: int) -> int:
        """Guild-level computed permissions (before any channel overwrite)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.guild_members.get(user_id)
        perms = int(self.roles[self.guild_id]["permissions"])
        for rid in member.roles if member else []:
            role = self.roles.get(rid)
            if role is not None:
                perms |= int(role["permissions"])
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def channel_permissions(self, user_id: int, channel_id: int) -> int:
        """Permissions in a channel, with its overwrites, as Discord computes them: @everyone's
        overwrite, then the member's roles' (denies, then allows, all together), then the
        member's own. https://discord.com/developers/docs/topics/permissions"""
        perms = self.member_permissions(user_id)
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        overwrites = {o["id"]: o for o in self.channels[channel_id]["permission_overwrites"]}

        def apply(perms: int, allow: int, deny: int) -> int:
            return (perms & ~deny) | allow

        everyone = overwrites.get(str(self.guild_id))
        if everyone is not None:
            perms = apply(perms, int(everyone["allow"]), int(everyone["deny"]))
        member = self.guild_members.get(user_id)
        roles = [overwrites.get(str(r)) for r in (member.roles if member else [])]
        allow = deny = 0
        for overwrite in (o for o in roles if o is not None and o["type"] == 0):
            allow |= int(overwrite["allow"])
            deny |= int(overwrite["deny"])
        perms = apply(perms, allow, deny)
        own = overwrites.get(str(user_id))
        if own is not None and own["type"] == 1:
            perms = apply(perms, int(own["allow"]), int(own["deny"]))
        return perms

    def set_overwrite(
        self, channel_id: int, target_id: int, *, member: bool, allow: int, deny: int
    ) -> None:
        """Replace (or add) the channel's permission overwrite for a role or a member."""
        overwrites = self.channels[channel_id]["permission_overwrites"]
        overwrites[:] = [o for o in overwrites if o["id"] != str(target_id)]
        overwrites.append(
            {
                "id": str(target_id),
                "type": 1 if member else 0,
                "allow": str(allow),
                "deny": str(deny),
            }
        )

    def channel(self, cid: int) -> JSON | None:
        """A guild channel (of any guild), a thread or a DM channel."""
        return (
            self.channels.get(cid)
            or self.threads.get(cid)
            or self.other_channels.get(cid)
            or self.dm_channels.get(cid)
        )

    def is_guild_channel(self, channel_id: int) -> bool:
        return (
            channel_id in self.channels
            or channel_id in self.threads
            or channel_id in self.other_channels
        )

    # -- several guilds (shards) -----------------------------------------------------------

    def add_guild(self, guild_id: int, name: str, text_channels: dict[int, str]) -> None:
        """Another guild the bot is in, with the same members as the first one."""
        self.other_guilds[guild_id] = name
        for pos, (cid, channel_name) in enumerate(text_channels.items()):
            self.other_channels[cid] = text_channel_payload(guild_id, cid, channel_name, pos)

    def remove_guild(self, guild_id: int) -> None:
        """The bot is no longer in that guild (one added with `add_guild`)."""
        del self.other_guilds[guild_id]
        for cid in [c for c, ch in self.other_channels.items() if ch["guild_id"] == str(guild_id)]:
            del self.other_channels[cid]

    def guild_ids(self) -> list[int]:
        return [self.guild_id, *self.other_guilds]

    def guild_of(self, channel_id: int) -> int:
        """The guild of a guild channel."""
        channel = self.other_channels.get(channel_id)
        return int(channel["guild_id"]) if channel is not None else self.guild_id

    def store(self, msg: JSON) -> None:
        self.messages[int(msg["id"])] = msg
        channel = self.channel(int(msg["channel_id"]))
        if channel is not None:
            channel["last_message_id"] = msg["id"]
            if "thread_metadata" in channel and msg["id"] != channel["id"]:
                # A thread counts its messages, a forum post's starter message aside.
                channel["message_count"] += 1
                channel["total_message_sent"] += 1

    def dm_channel_for(self, user: FakeUser, channel_id: int | None = None) -> JSON:
        """The bot's DM channel with ``user``, created (with ``channel_id``) if needed."""
        for channel in self.dm_channels.values():
            if channel["recipients"][0]["id"] == str(user.id):
                return channel
        cid = channel_id or self.snowflake()
        channel = {
            "id": str(cid),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user.payload()],
        }
        self.dm_channels[cid] = channel
        return channel
