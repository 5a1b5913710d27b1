"""Where the tests import the fake Discord from; it lives in the ``tests.fakes.discord`` package."""

from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeUser, RecordedRequest

__all__ = ["FakeDiscord", "FakeInteraction", "FakeUser", "RecordedRequest"]
