"""What the data-ownership tests put in a store before the bot starts: a server's worth of
everything the bot keeps (messages, profiles, choices, reply ids, settings, queue, usage)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.conversation.persona import Persona, PersonaProfiles
from services.discord_ids import first_id_at
from services.privacy.privacy import PrivacyChoices, ReplyLog
from services.servers.settings import ServerSettings
from services.store import StateKind, StoredMessage, UsageRow
from services.store.measured import Store
from services.voice.music_queue import QueueDocuments, Track


def profile_text(guild_id: int, member_id: int) -> str:
    """A profile summary no other data contains: finding it anywhere is a leak."""
    return f"PROFILE-OF-{member_id}-IN-{guild_id}-writes-tersely"


def message_text(guild_id: int, member_id: int, n: int) -> str:
    return f"text {n} by {member_id} in {guild_id}"


async def seed_server(
    store: Store,
    guild_id: int,
    channel_id: int,
    members: list[int],
    *,
    first_id: int,
    per_member: int = 3,
) -> list[StoredMessage]:
    """`per_member` messages of each member in the channel, their profiles, a choice, the
    bot's reply ids, token usage, the server's settings (a pace) and a queued track."""
    now = datetime.now(UTC)
    stored = []
    next_id = first_id
    for member_id in members:
        for n in range(per_member):
            message = StoredMessage(
                message_id=next_id,
                guild_id=guild_id,
                channel_id=channel_id,
                author_id=member_id,
                author_name=f"member {member_id}",
                content=message_text(guild_id, member_id, n),
                created_at=now - timedelta(hours=2, minutes=-n),
                edited_at=now - timedelta(hours=1) if n == 0 else None,
            )
            await store.add(message, counted=True)
            stored.append(message)
            next_id += 1
        await PersonaProfiles(store).put(
            Persona(
                guild_id,
                member_id,
                summary=profile_text(guild_id, member_id),
                built_from=per_member,
                built_at=now - timedelta(minutes=30),
            )
        )
        await PrivacyChoices(store).put(guild_id, member_id, "opted_in", now.timestamp())
        # A reply id of now: retention keeps the ids of replies younger than RETENTION_DAYS.
        await ReplyLog(store).add(guild_id, member_id, [first_id_at(now) + next_id])
        await store.add_usage(
            UsageRow(date.today(), guild_id, channel_id, member_id, "decision", 900, 40, 128)
        )
    servers = ServerSettings(store, default_channels=frozenset(), default_every=5)
    await servers.set_pace(guild_id, 7)
    await QueueDocuments(store).put(
        guild_id,
        [
            Track.new(
                title="a song",
                page_url="https://x.test/a",
                duration_seconds=60,
                requester_id=members[0],
            )
        ],
    )
    return stored


async def held_by(store: Store, guild_id: int) -> list[str]:
    """What the store still holds for the guild, by kind (empty: nothing)."""
    held = []
    if guild_id in await store.guilds_with_messages():
        held.append("messages")
    if guild_id in await store.guilds_with_usage():
        held.append("usage")
    member_kinds: tuple[StateKind, ...] = ("persona", "privacy", "bot_replies")
    server_kinds: tuple[StateKind, ...] = ("guild_settings", "music_queue", "server_departure")
    for kind in member_kinds:
        if any(key.startswith(f"{guild_id}:") for key, _ in await store.state_items(kind)):
            held.append(kind)
    for kind in server_kinds:
        if await store.get_state(kind, str(guild_id)) is not None:
            held.append(kind)
    return held
