"""What /play accepts, and what yt-dlp resolves on the loopback media server."""

from __future__ import annotations

from typing import Any

import pytest

from services.music_source import MusicRefused, MusicRequest, MusicResolver, classify, judge
from tests.conftest import Media

ALLOWED = frozenset({"youtube.com", "www.youtube.com", "youtu.be"})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("never gonna give you up", MusicRequest("ytsearch1:never gonna give you up")),
        ("  lofi  ", MusicRequest("ytsearch1:lofi")),
        ("ytsearch50:x", MusicRequest("ytsearch1:ytsearch50:x")),
        ("https://youtu.be/abc", MusicRequest("https://youtu.be/abc")),
        ("www.youtube.com/watch?v=abc", MusicRequest("https://www.youtube.com/watch?v=abc")),
        (
            "HTTPS://WWW.YOUTUBE.COM/watch?v=abc",
            MusicRequest("HTTPS://WWW.YOUTUBE.COM/watch?v=abc"),
        ),
    ],
)
def test_words_are_searched_and_allowed_links_played(query: str, expected: MusicRequest) -> None:
    assert classify(query, ALLOWED) == expected


@pytest.mark.parametrize(
    "query",
    [
        "https://evil.example/song.mp3",
        "http://127.0.0.1:8080/admin",
        "file:///etc/passwd",
        "ftp://youtube.com/x",
        "https://youtube.com.evil.example/watch",
        "example.com/song.mp3",
    ],
)
def test_other_links_are_refused(query: str) -> None:
    with pytest.raises(MusicRefused) as refused:
        classify(query, ALLOWED)
    assert refused.value.reason == "link_not_allowed"


def info(**fields: Any) -> dict[str, Any]:
    return {
        "title": "A song",
        "webpage_url": "https://www.youtube.com/watch?v=abc",
        "url": "https://1.1.1.1/stream",
        "duration": 200.4,
        **fields,
    }


def check(item: dict[str, Any], *, allow_private_hosts: bool = False) -> Any:
    return judge(
        item, allowed_hosts=ALLOWED, max_seconds=600, allow_private_hosts=allow_private_hosts
    )


def test_a_resolved_item_is_checked_before_it_is_played() -> None:
    track = check(info())
    assert (track.title, track.duration_seconds) == ("A song", 200)
    for item, reason in [
        (info(is_live=True), "live"),
        (info(live_status="is_upcoming"), "live"),
        (info(duration=601), "too_long"),
        (info(webpage_url="http://127.0.0.1/redirected"), "link_not_allowed"),
        (info(url="file:///etc/passwd"), "unplayable"),
        (info(url=None), "unplayable"),
        (info(url="http://127.0.0.1/stream"), "unplayable"),
        (info(url="http://localhost/stream"), "unplayable"),
        (info(url="http://10.0.0.8/stream"), "unplayable"),
    ]:
        with pytest.raises(MusicRefused) as refused:
            check(item)
        assert refused.value.reason == reason, item
    # Private stream hosts only when a test allows them.
    assert check(info(url="http://127.0.0.1/stream"), allow_private_hosts=True)


@pytest.mark.parametrize("name", ["song", "song_ogg", "song_wav"])
async def test_yt_dlp_resolves_audio_files_on_the_media_server(media: Media, name: str) -> None:
    resolver = MusicResolver(
        allowed_hosts={"localhost"},
        max_seconds=60,
        allow_private_hosts=True,
        allow_generic_extractor=True,
    )
    url = getattr(media, name)
    track = await resolver.resolve(resolver.classify(url))
    assert track.page_url == url
    assert track.stream_url == url


async def test_without_the_generic_extractor_a_plain_site_is_not_read(media: Media) -> None:
    resolver = MusicResolver(allowed_hosts={"localhost"}, max_seconds=60, allow_private_hosts=True)
    before = len(media.server.requests)
    with pytest.raises(MusicRefused) as refused:
        await resolver.resolve(resolver.classify(media.song))
    assert refused.value.reason == "unplayable"
    assert media.server.requests[before:] == []
