"""A Discord-compatible server nobody here wrote: payloads Discord itself does not send.

Each quirk was seen from such a server (Spacebar, run locally as an operator would; issue 18,
finding 11) and is off unless a test turns it on, with :meth:`FakeDiscord.foreign`, which
turns it off again. The fake stays as strict as Discord everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from tests.fakes.discord.protocol import JSON


@dataclass
class Quirks:
    # READY without `shard`, even to an IDENTIFY that sent one (discord.py's AutoShardedBot
    # reads `data["shard"][0]`).
    ready_without_shard: bool = False
    # Every op 3 (presence update) is echoed back as a PRESENCE_UPDATE for the bot without
    # `status` (discord.py reads `data["status"]`).
    presence_echo_without_status: bool = False
    # Every op 3 ends the session: the websocket is closed with this code and the session is
    # forgotten (a RESUME gets INVALID_SESSION), so the bot IDENTIFYs anew.
    close_after_presence: int | None = None
    # These message ids carry `"thread": null` in GET /channels/{id}/messages (discord.py
    # reads `thread["id"]`).
    null_thread_in_history: set[int] = field(default_factory=set)
    # A message with a `message_reference` is refused with this 400 body (not Discord's).
    reference_refused_with: JSON | None = None
    # GET /guilds/{id} has no `roles` (they are at GET /guilds/{id}/roles).
    guild_without_roles: bool = False
    # GET /applications/@me has no `flags`.
    application_without_flags: bool = False

    def reset(self) -> None:
        fresh = Quirks()
        for each in fields(self):
            setattr(self, each.name, getattr(fresh, each.name))
