"""The status line's back-off after a session that ended right after a line (issue 18)."""

from __future__ import annotations

from services.presence_backoff import PresenceBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ended_right_after_a_line_makes_the_next_wait_doubling_to_a_cap() -> None:
    clock = Clock()
    backoff = PresenceBackoff(suspect_within=10, first=300, longest=1000, clock=clock)
    waits = []
    for _ in range(4):
        assert backoff.may_send()
        backoff.sent()
        clock.now += 1
        waits.append(backoff.session_ended())
        assert not backoff.may_send()
        clock.now += waits[-1] or 0
    assert waits == [300, 600, 1000, 1000]


def test_a_line_that_outlives_the_window_clears_the_back_off() -> None:
    clock = Clock()
    backoff = PresenceBackoff(suspect_within=10, first=300, longest=3600, clock=clock)
    backoff.sent()
    clock.now += 1
    assert backoff.session_ended() == 300
    clock.now += 300
    backoff.sent()
    clock.now += 60  # accepted: the session went on
    assert backoff.session_ended() is None  # an ordinary outage later
    assert backoff.may_send()
    backoff.sent()
    clock.now += 1
    assert backoff.session_ended() == 300  # suspected again: from the first wait


def test_an_ending_without_a_line_is_not_suspected() -> None:
    clock = Clock()
    backoff = PresenceBackoff(clock=clock)
    assert backoff.session_ended() is None
    backoff.sent()
    clock.now += 1
    assert backoff.session_ended() is not None
    assert backoff.session_ended() is None  # the RESUME refused after it: the same ending
