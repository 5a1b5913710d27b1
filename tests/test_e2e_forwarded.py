"""A forwarded message is stored with the text it forwards, as Discord sends it."""

from __future__ import annotations

from typing import Any

from app.settings import Settings
from services.store import StoredMessage
from tests.fakes.discord_server import FakeDiscord
from tests.harness import ALICE, BRUNO, GENERAL, GUILD_ID, OFFTOPIC, eventually, running_bot

JSON = dict[str, Any]


def forward_of(original: JSON, forward_id: int, author: JSON) -> JSON:
    """MESSAGE_CREATE of a forward: an empty `content`, a reference of type 1 (FORWARD) and a
    snapshot of the original.
    https://discord.com/developers/docs/resources/message#message-snapshot-object"""
    return {
        **original,
        "id": str(forward_id),
        "channel_id": str(GENERAL),
        "author": author,
        "content": "",
        "attachments": [],
        "embeds": [],
        "message_reference": {
            "type": 1,
            "message_id": original["id"],
            "channel_id": original["channel_id"],
            "guild_id": str(GUILD_ID),
        },
        "message_snapshots": [
            {
                "message": {
                    "type": 0,
                    "content": original["content"],
                    "embeds": [],
                    "attachments": [],
                    "timestamp": original["timestamp"],
                    "edited_timestamp": None,
                    "flags": 0,
                    "mentions": [],
                    "mention_roles": [],
                }
            }
        ],
    }


async def test_a_forwarded_message_is_stored_with_the_forwarded_text(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    async with running_bot(fake_discord, settings, reply_every=1000) as bot:
        original = await fake_discord.post_message(OFFTOPIC, BRUNO, "the meeting moved to 6pm")
        mine = await fake_discord.post_message(GENERAL, ALICE, "look:")
        forward = forward_of(original, fake_discord.snowflake(), mine["author"])
        await fake_discord.dispatch("MESSAGE_CREATE", forward)

        async def stored_forward() -> list[StoredMessage]:
            found = await bot.services.store.last_in_channel(GENERAL, 10)
            return [m for m in found if m.message_id == int(forward["id"])]

        [stored] = await eventually(stored_forward)
    assert stored.content == "the meeting moved to 6pm"
    assert stored.author_id == ALICE.id
