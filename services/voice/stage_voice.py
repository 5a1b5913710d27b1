"""Whether the bot can be heard in a voice channel it joins: a stage channel takes a speaker.

Discord puts everyone who joins a stage channel, bots included, in the audience (suppressed):
what they play reaches nobody. The bot may move itself to the speakers only with Mute Members
in that channel (a stage moderator has it). Without it, /play and /say are refused with a
sentence saying what to grant, rather than "Now playing" into silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StageAction = Literal["speak", "become_speaker", "refuse"]


@dataclass(frozen=True, slots=True)
class StageAccess:
    action: StageAction
    reason: str

    @property
    def may_play(self) -> bool:
        return self.action != "refuse"


def stage_access(*, stage: bool, mute_members: bool) -> StageAccess:
    """What the bot does to be heard in a channel: `stage` is whether it is a stage channel,
    `mute_members` whether the bot has Mute Members there."""
    if not stage:
        return StageAccess("speak", "a voice channel has no audience")
    if mute_members:
        return StageAccess("become_speaker", "Mute Members lets the bot unsuppress itself")
    return StageAccess("refuse", "on a stage without Mute Members the bot stays in the audience")
