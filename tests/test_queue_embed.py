"""/queue's embed stays within Discord's limits whatever the titles and links (property-style:
random queues from a fixed seed, checked by the strict fake Discord's own validation)."""

from __future__ import annotations

import random
import string

import pytest

from commands.music import QUEUE_PAGE_SIZE, queue_embed, queue_pages, shown_title
from services.voice.music_queue import Track
from tests.fakes.discord.limits import message_errors

# What a title or a link may hold: markdown, brackets, mentions, escapes, other scripts, emoji,
# line breaks; titles up to 400 characters (yt-dlp passes on whatever the page says), links up
# to 2,048 (the longest most browsers and servers take).
ALPHABET = string.ascii_letters + string.digits + " *_~`|>#-[]()\\@<:/\n\t" + "çãéü漢字🎵😀"
URL_CHARACTERS = string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=% "
SEED = 18


def random_title(rng: random.Random) -> str:
    length = rng.choice([0, 1, 10, 60, 100, 101, 256, 400])
    return "".join(rng.choice(ALPHABET) for _ in range(length))


def random_url(rng: random.Random) -> str:
    length = rng.choice([10, 40, 200, 499, 500, 501, 1024, 2048])
    scheme = rng.choice(["https://", "http://", "", "ytsearch:"])
    return scheme + "".join(rng.choice(URL_CHARACTERS) for _ in range(length))


def random_queue(rng: random.Random) -> list[Track]:
    return [
        Track.new(
            title=random_title(rng),
            page_url=random_url(rng),
            duration_seconds=rng.choice([None, 0, 59, 3_600, 86_399, 10**7]),
            requester_id=rng.randrange(10**17, 10**19),
        )
        for _ in range(rng.randint(1, 50))
    ]


def page_count(footer: str) -> int:
    return int(footer.split(" ")[1].split("/")[1])


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_every_page_of_any_queue_is_within_discords_limits(locale: str) -> None:
    rng = random.Random(SEED)
    for _ in range(150):
        tracks = random_queue(rng)
        first = queue_embed(locale, None, tracks, 1)
        pages = page_count(first.footer.text or "")
        listed: list[str] = []
        for page in range(1, pages + 2):  # one past the last shows the last
            embed = queue_embed(locale, None, tracks, page)
            assert message_errors({"embeds": [embed.to_dict()]}) == {}
            if page <= pages:
                listed += (embed.fields[1].value or "").splitlines()
        # Every upcoming track is on exactly one page, in order.
        if len(tracks) > 1:
            assert [line.split(".")[0] for line in listed] == [
                str(n) for n in range(2, len(tracks) + 1)
            ]


def test_a_page_holds_ten_entries_or_what_fits_in_a_field() -> None:
    assert queue_pages(["x" * 10] * 25, per_page=QUEUE_PAGE_SIZE, max_chars=1024) == [
        ["x" * 10] * 10,
        ["x" * 10] * 10,
        ["x" * 10] * 5,
    ]
    # 300 + 1 + 300 + 1 + 300 = 902; a fourth line would pass 1,024.
    assert [len(p) for p in queue_pages(["y" * 300] * 7, per_page=10, max_chars=1024)] == [3, 3, 1]
    [[cut]] = queue_pages(["z" * 2000], per_page=10, max_chars=1024)
    assert len(cut) == 1024


def test_a_title_is_plain_text_bounded_and_followed_by_its_link_only_when_short() -> None:
    track = Track.new(
        title="**bold** [x](https://evil.example)\nnext",
        page_url="https://www.youtube.com/watch?v=a(b)&si=tracking",
        duration_seconds=1,
        requester_id=1,
    )
    assert shown_title(track) == (
        r"\*\*bold\*\* \[x\]\(https\://evil.example\) next"
        " (https://www.youtube.com/watch?v=a%28b%29)"
    )
    long_link = Track.new(
        title="t" * 300,
        page_url="https://x.example/" + "a" * 600,
        duration_seconds=1,
        requester_id=1,
    )
    assert shown_title(long_link) == "t" * 99 + "…"
