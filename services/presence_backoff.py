"""When the status line may be sent again, after a session that ended right after one was sent.

Discord keeps a presence for the session, so the bot sends its line again on every new one. A
server that ends the session on a presence update it refuses (a Discord-compatible one did,
issue 18) then sees a new session, the line, the session ended, again and again: 72 reconnects
in 6 minutes, each a session start of the day's allowance. So a line sent shortly before its
session ended is suspected of ending it: the next line waits, `first` seconds, doubled on each
repeat up to `longest`; a line that outlives `suspect_within` clears the suspicion.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SUSPECT_WITHIN = 10.0  # seconds between a line and the end of its session that suspect it
FIRST_WAIT = 300.0  # the first back-off: the status line's own refresh period
LONGEST_WAIT = 3600.0


class PresenceBackoff:
    def __init__(
        self,
        *,
        suspect_within: float = SUSPECT_WITHIN,
        first: float = FIRST_WAIT,
        longest: float = LONGEST_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._suspect_within = suspect_within
        self._first = first
        self._longest = longest
        self._clock = clock
        self._sent_at: float | None = None  # the last line, while its session lasts
        self._wait: float | None = None  # the current back-off, while suspected
        self._until = float("-inf")  # no line before this

    def may_send(self) -> bool:
        """Whether a line may be sent now."""
        self._settle()
        return self._clock() >= self._until

    def sent(self) -> None:
        """A line was sent on the current session."""
        self._settle()
        self._sent_at = self._clock()

    def session_ended(self) -> float | None:
        """The session ended: the seconds the next line waits when the last line is
        suspected of ending it, else None."""
        self._settle()
        now = self._clock()
        sent_at, self._sent_at = self._sent_at, None
        if sent_at is None or now - sent_at >= self._suspect_within:
            return None
        self._wait = self._first if self._wait is None else min(self._wait * 2, self._longest)
        self._until = now + self._wait
        return self._wait

    def _settle(self) -> None:
        """A line that outlived the suspicion window was accepted: no more back-off."""
        if self._sent_at is not None and self._clock() - self._sent_at >= self._suspect_within:
            self._wait = None
