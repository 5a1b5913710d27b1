"""State documents load across releases: as today's code writes them, with a field added by
a newer release, with one removed, and as the release before versions wrote them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from services.conversation.persona import Persona, PersonaProfiles, StyleFigures
from services.conversation.temperature import GuildSettingsRepository
from services.privacy.privacy import MAX_TRACKED_REPLIES, PrivacyChoices, ReplyLog
from services.state import VERSION_FIELD
from services.store import MemoryStore
from services.voice.music_queue import MusicQueues, QueueDocuments, Track
from tests.unit.fakes import T0

GUILD, MEMBER = 1, 2

PERSONA = Persona(
    guild_id=GUILD,
    member_id=MEMBER,
    summary="Short and cheerful.",
    tone="cheerful",
    formality="casual",
    humour="a lot",
    verbosity="terse",
    language="pt-BR",
    reply_style="playful",
    suggested_temperature=0.9,
    figures=StyleFigures(12.5, 0.1, 0.2, 0.3, 0.05, 0.0, (20, 21)),
    built_at=T0,
    built_from=30,
)

# Exactly what the release before versioned documents wrote (Persona.to_document then).
UNVERSIONED_PERSONA: dict[str, Any] = {
    "guild_id": GUILD,
    "member_id": MEMBER,
    "summary": "Short and cheerful.",
    "tone": "cheerful",
    "formality": "casual",
    "humour": "a lot",
    "verbosity": "terse",
    "language": "pt-BR",
    "reply_style": "playful",
    "suggested_temperature": 0.9,
    "figures": {
        "average_length": 12.5,
        "question_share": 0.1,
        "exclamation_share": 0.2,
        "emoji_share": 0.3,
        "capitals_share": 0.05,
        "link_share": 0.0,
        "active_hours": [20, 21],
    },
    "built_at": T0.timestamp(),
    "built_from": 30,
}


async def stored_persona(document: dict[str, Any]) -> Persona | None:
    store = MemoryStore()
    await store.put_state("persona", f"{GUILD}:{MEMBER}", document)
    return await PersonaProfiles(store).get(GUILD, MEMBER)


async def test_a_profile_round_trips_with_its_version() -> None:
    store = MemoryStore()
    profiles = PersonaProfiles(store)
    await profiles.put(PERSONA)
    document = await store.get_state("persona", f"{GUILD}:{MEMBER}")
    assert document is not None and document[VERSION_FIELD] == PersonaProfiles.VERSION
    assert "guild_id" not in document  # the key says it
    assert await profiles.get(GUILD, MEMBER) == PERSONA
    assert await profiles.members() == [(GUILD, MEMBER)]


async def test_a_profile_written_before_versions_loads() -> None:
    assert await stored_persona(UNVERSIONED_PERSONA) == PERSONA


async def test_a_profile_with_a_field_added_by_a_newer_release_loads() -> None:
    newer = {**UNVERSIONED_PERSONA, VERSION_FIELD: 2, "pronoun_style": "they"}
    newer["figures"] = {**newer["figures"], "sticker_share": 0.4}
    assert await stored_persona(newer) == PERSONA


async def test_a_profile_missing_a_field_loads_with_its_default() -> None:
    older = {k: v for k, v in UNVERSIONED_PERSONA.items() if k not in ("humour", "built_from")}
    older["figures"] = {k: v for k, v in older["figures"].items() if k != "link_share"}
    assert await stored_persona(older) == replace(PERSONA, humour="some", built_from=0)


async def test_an_unreadable_profile_is_treated_as_absent_so_it_is_rebuilt() -> None:
    assert await stored_persona({**UNVERSIONED_PERSONA, "figures": {"active_hours": 7}}) is None


def track(n: int) -> Track:
    return Track.new(
        title=f"t{n}", page_url=f"https://youtu.be/{n}", duration_seconds=n, requester_id=7
    )


async def test_a_queue_round_trips_and_old_or_newer_entries_load() -> None:
    store = MemoryStore()
    queues = MusicQueues(QueueDocuments(store), max_length=10)
    first = track(1)
    await queues.add(GUILD, first)
    document = await store.get_state("music_queue", str(GUILD))
    assert document is not None and document[VERSION_FIELD] == QueueDocuments.VERSION
    document["tracks"] += [
        # As the release before versions wrote an entry, plus a field from a newer release.
        {
            "title": "old",
            "page_url": "https://youtu.be/old",
            "duration_seconds": 3,
            "requester_id": 7,
            "entry_id": "e-old",
            "thumbnail": "https://i.ytimg.com/x.jpg",
        },
        # A field removed: no entry id and no title.
        {"page_url": "https://youtu.be/bare", "duration_seconds": None, "requester_id": 8},
        # Unreadable (no link to play): dropped, the rest kept.
        {"title": "nothing to play"},
    ]
    await store.put_state("music_queue", str(GUILD), document)
    tracks = await MusicQueues(QueueDocuments(store), max_length=10).tracks(GUILD)
    assert [t.title for t in tracks] == ["t1", "old", "https://youtu.be/bare"]
    assert tracks[0] == first
    assert tracks[1].entry_id == "e-old"
    assert tracks[2].entry_id and tracks[2].requester_id == 8


async def test_privacy_choices_load_old_and_new_documents() -> None:
    store = MemoryStore()
    choices = PrivacyChoices(store)
    await choices.put(GUILD, MEMBER, "opted_out", at=1.0)
    await store.put_state("privacy", f"{GUILD}:3", {"choice": "opted_in", "at": 2.0})
    await store.put_state("privacy", f"{GUILD}:4", {"choice": "something new", VERSION_FIELD: 9})
    assert await choices.all() == {(GUILD, MEMBER): "opted_out", (GUILD, 3): "opted_in"}


async def test_guild_settings_keep_fields_this_release_does_not_know() -> None:
    store = MemoryStore()
    await store.put_state("guild_settings", str(GUILD), {"temperature": 0.5, "future": "kept"})
    settings = GuildSettingsRepository(store)
    assert await settings.temperature(GUILD) == 0.5
    await settings.set_temperature(GUILD, 1.1)
    document = await store.get_state("guild_settings", str(GUILD))
    assert document == {VERSION_FIELD: 1, "temperature": 1.1, "future": "kept"}
    assert await settings.temperature(GUILD + 1) is None


async def test_concurrent_replies_lose_no_id_and_the_log_is_bounded() -> None:
    replies = ReplyLog(MemoryStore())
    await asyncio.gather(*(replies.add(GUILD, MEMBER, [n]) for n in range(50)))
    assert sorted(await replies.take(GUILD, MEMBER)) == list(range(50))
    assert await replies.take(GUILD, MEMBER) == []  # taken means gone
    await replies.add(GUILD, MEMBER, list(range(MAX_TRACKED_REPLIES + 5)))
    kept = await replies.take(GUILD, MEMBER)
    assert kept == list(range(5, MAX_TRACKED_REPLIES + 5))  # the newest
