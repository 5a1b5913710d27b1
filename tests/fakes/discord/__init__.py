"""A loopback fake of Discord (REST API v10 and the gateway); see ``server.py``."""

from tests.fakes.discord.server import FakeDiscord, FakeInteraction, FakeUser, RecordedRequest

__all__ = ["FakeDiscord", "FakeInteraction", "FakeUser", "RecordedRequest"]
