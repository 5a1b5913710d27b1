"""Whether the bot can be heard where it joins: a stage takes Mute Members to speak on."""

from __future__ import annotations

import pytest

from services.voice.stage_voice import stage_access


@pytest.mark.parametrize(
    ("stage", "mute_members", "action"),
    [
        (False, False, "speak"),
        (False, True, "speak"),
        (True, True, "become_speaker"),
        (True, False, "refuse"),
    ],
)
def test_stage_access(stage: bool, mute_members: bool, action: str) -> None:
    access = stage_access(stage=stage, mute_members=mute_members)
    assert access.action == action
    assert access.may_play == (action != "refuse")
    assert access.reason
