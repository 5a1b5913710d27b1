"""JSON payloads derived from the model, in the shapes discord.py 2.7 parses.

discord.py crashes on a missing key, so every builder spells out the full object.
"""

from __future__ import annotations

import uuid

from tests.fakes.discord.model import FakeUser, Model
from tests.fakes.discord.protocol import JSON


def member_fields(model: Model, user_id: int) -> JSON:
    """A member object without its ``user`` (as in ``message.member``)."""
    member = model.guild_members.get(user_id)
    return {
        "roles": [str(r) for r in (member.roles if member else [])],
        "joined_at": member.joined_at if member else model.joined_at,
        "nick": member.nick if member else None,
        "avatar": None,
        "banner": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


def member_payload(model: Model, user_id: int) -> JSON:
    return {"user": model.users[user_id].payload(), **member_fields(model, user_id)}


def member_payload_for(model: Model, user: FakeUser) -> JSON:
    """A member object for ``user``, a member or not; the model learns the user."""
    model.users.setdefault(user.id, user)
    return {"user": user.payload(), **member_fields(model, user.id)}


def user_with_member(model: Model, user: FakeUser) -> JSON:
    """A user as a guild message mentions it: with ``member`` when they are one."""
    data = user.payload()
    if user.id in model.guild_members:
        data["member"] = member_fields(model, user.id)
    return data


def me_payload(model: Model) -> JSON:
    return {
        **model.bot_user.payload(),
        "bot": True,
        "verified": True,
        "mfa_enabled": False,
        "locale": "en-US",
        "email": None,
    }


def guild_payload(model: Model) -> JSON:
    """The guild as ``GET /guilds/{id}`` returns it."""
    first_text = next((c["id"] for c in model.channels.values() if c["type"] == 0), None)
    return {
        "id": str(model.guild_id),
        "name": model.guild_name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(model.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": list(model.roles.values()),
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": first_text,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_presences": None,
        "max_members": 500000,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "nsfw": False,
        "premium_progress_bar_enabled": False,
        "incidents_data": None,
        "region": "deprecated",
    }


def guild_create_payload(model: Model) -> JSON:
    """The GUILD_CREATE a new gateway session gets: the guild with everything in it."""
    return {
        **guild_payload(model),
        "joined_at": model.joined_at,
        "large": False,
        "lazy": True,
        "unavailable": False,
        "member_count": len(model.guild_members),
        "members": [member_payload(model, uid) for uid in model.guild_members],
        "channels": list(model.channels.values()),
        # The active threads the bot can see (every thread of the fake is visible to it).
        "threads": [t for t in model.threads.values() if not t["thread_metadata"]["archived"]],
        "presences": [],
        "voice_states": [voice_state(model, uid) for uid in model.voice_channel_of],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "embedded_activities": [],
    }


def other_guild_create_payload(model: Model, guild_id: int) -> JSON:
    """The GUILD_CREATE of another guild (`Model.add_guild`): its own id, name, @everyone
    role and text channels; the first guild's members and other roles; nobody in voice."""
    first = guild_create_payload(model)
    everyone = {**model.roles[model.guild_id], "id": str(guild_id)}
    roles = [everyone, *(r for rid, r in model.roles.items() if rid != model.guild_id)]
    channels = [c for c in model.other_channels.values() if c["guild_id"] == str(guild_id)]
    return {
        **first,
        "id": str(guild_id),
        "name": model.other_guilds[guild_id],
        "roles": roles,
        "channels": channels,
        "system_channel_id": channels[0]["id"] if channels else None,
        "voice_states": [],
    }


def guild_create_for(model: Model, guild_id: int) -> JSON:
    if guild_id == model.guild_id:
        return guild_create_payload(model)
    return other_guild_create_payload(model, guild_id)


def voice_state(model: Model, user_id: int) -> JSON:
    flags = model.voice_flags.get(user_id, {})
    return {
        "guild_id": str(model.guild_id),
        "channel_id": str(model.voice_channel_of[user_id])
        if user_id in model.voice_channel_of
        else None,
        "user_id": str(user_id),
        "member": member_payload(model, user_id) if user_id in model.guild_members else None,
        "session_id": flags.get("session_id", uuid.uuid4().hex),
        "deaf": False,
        "mute": False,
        "self_deaf": bool(flags.get("self_deaf", False)),
        "self_mute": bool(flags.get("self_mute", False)),
        "self_video": False,
        "self_stream": False,
        "suppress": bool(flags.get("suppress", False)),
        "request_to_speak_timestamp": flags.get("request_to_speak_timestamp"),
    }


def application_payload(model: Model) -> JSON:
    owner = model.users.get(model.owner_id) or FakeUser(model.owner_id, "owner")
    return {
        "id": str(model.application_id),
        "name": model.bot_user.username,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": owner.payload(),
        "team": None,
        "flags": model.application_flags,
        "bot": model.bot_user.payload(),
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "redirect_uris": [],
        "tags": [],
        "integration_types_config": {"0": {}},
        "is_monetized": False,
    }


def ready_payload(
    model: Model,
    *,
    session_id: str,
    shard: list[int] | None,
    resume_gateway_url: str,
    guild_ids: list[int] | None = None,
) -> JSON:
    """READY; `guild_ids` are the session's guilds (default: the first guild)."""
    guilds = guild_ids if guild_ids is not None else [model.guild_id]
    ready: JSON = {
        "v": 10,
        "user": me_payload(model),
        "guilds": [{"id": str(guild), "unavailable": True} for guild in guilds],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_gateway_url,
        "application": {"id": str(model.application_id), "flags": model.application_flags},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["local"],
        "user_settings": {},
        "auth": {},
        "_trace": ['["fake-gateway",{"micros":0}]'],
    }
    if shard is not None:
        ready["shard"] = shard
    return ready


def members_chunk(model: Model, d: JSON) -> JSON:
    """The one GUILD_MEMBERS_CHUNK answering a gateway op 8 (``d``)."""
    user_ids = {int(u) for u in d.get("user_ids") or []}
    query = (d.get("query") or "").lower()
    limit = int(d.get("limit") or 0)
    found: list[JSON] = []
    for uid, member in model.guild_members.items():
        if user_ids and uid not in user_ids:
            continue
        if not user_ids and query and not member.user.username.lower().startswith(query):
            continue
        found.append(member_payload(model, uid))
    if limit:
        found = found[:limit]
    chunk: JSON = {
        "guild_id": str(model.guild_id),
        "members": found,
        "chunk_index": 0,
        "chunk_count": 1,
        "not_found": [str(u) for u in user_ids if u not in model.guild_members],
    }
    if d.get("nonce"):
        chunk["nonce"] = d["nonce"]
    if d.get("presences"):
        chunk["presences"] = []
    return chunk


def presence_echo_without_status(model: Model, presence: JSON) -> JSON:
    """A server's echo of the bot's own op 3, as PRESENCE_UPDATE, lacking Discord's `status`."""
    return {
        "user": {"id": str(model.bot_user.id)},
        "guild_id": str(model.guild_id),
        "activities": list(presence.get("activities") or []),
        "client_status": {},
    }
