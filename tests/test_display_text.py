"""Track titles and members' links, made safe to show in /queue and to log."""

from __future__ import annotations

import logging

import pytest

from app.logging_setup import RedactUrlQueries
from services.display_text import display_title, fit_lines, redact_url, track_label


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://media.example/song.mp3?api_key=SECRET&x=1", "https://media.example/song.mp3"),
        (
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&si=tracking",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        ),
        ("https://user:pw@media.example:8443/a#token=SECRET", "https://media.example:8443/a"),
        ("http://[::1]:8080/a?sig=SECRET", "http://[::1]:8080/a"),
    ],
)
def test_a_url_loses_its_query_fragment_and_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_title_cannot_be_a_masked_link_a_mention_or_a_heading() -> None:
    title = "# [Free Nitro](https://phish.example/claim) <@123> @everyone\n- *now*"
    shown = display_title(title)
    assert shown == (
        r"\# \[Free Nitro\]\(https\://phish.example/claim\) \<\@123\> \@everyone \- \*now\*"
    )
    assert "https://" not in shown  # `https\://` is not linked


def test_a_track_is_its_title_then_its_page_in_full_view() -> None:
    label = track_label("[Official](https://phish.example)", "https://media.example/a.mp3?token=1")
    assert label == r"\[Official\]\(https\://phish.example\) (https://media.example/a.mp3)"
    assert len(display_title("x" * 5000)) == 200


def test_logged_urls_lose_their_query_strings(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.url_redaction")
    redact = RedactUrlQueries()
    caplog.handler.addFilter(redact)
    try:
        logger.info("yt-dlp: Extracting URL: %s", "https://media.example/a.mp3?api_key=SECRET")
        try:
            raise RuntimeError("fetching https://media.example/b.mp3?token=SECRET failed")
        except RuntimeError:
            logger.exception("failed")
    finally:
        caplog.handler.removeFilter(redact)
    assert "SECRET" not in caplog.text
    assert "Extracting URL: https://media.example/a.mp3" in caplog.text
    assert "fetching https://media.example/b.mp3 failed" in caplog.text


def test_fit_lines_cuts_with_a_count_of_the_rest() -> None:
    lines = [f"<#{n:020}>" for n in range(100)]
    fitted = fit_lines(lines, 1024)
    assert len(fitted) <= 1024
    shown = fitted.splitlines()
    assert shown[-1] == f"… +{100 - (len(shown) - 1)}" and shown[:-1] == lines[: len(shown) - 1]
    assert fit_lines(["a", "b"], 1024) == "a\nb"
    assert fit_lines([], 1024) == "—"
