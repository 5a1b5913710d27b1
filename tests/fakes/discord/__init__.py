"""A loopback fake of Discord (REST API v10 and the gateway); see ``server.py``."""

from tests.fakes.discord.front import RecordedRequest
from tests.fakes.discord.interactions import FakeInteraction
from tests.fakes.discord.model import FakeUser
from tests.fakes.discord.server import FakeDiscord

__all__ = ["FakeDiscord", "FakeInteraction", "FakeUser", "RecordedRequest"]
