"""What /play accepts, and what yt-dlp resolves on the loopback media server (direct links to
files: tests/test_direct_audio.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.voice.music_source import MusicRefused, MusicRequest, MusicResolver, classify, judge
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
        # Direct links to audio files, on any host: read without yt-dlp, checked when read.
        ("https://evil.example/song.mp3", MusicRequest("https://evil.example/song.mp3", True)),
        ("example.com/a%20b.FLAC", MusicRequest("https://example.com/a%20b.FLAC", True)),
        ("http://10.0.0.5:8000/radio.ogg", MusicRequest("http://10.0.0.5:8000/radio.ogg", True)),
        (
            "https://media.example/Audio/1/stream.m4a?api_key=k",
            MusicRequest("https://media.example/Audio/1/stream.m4a?api_key=k", True),
        ),
        ("https://youtu.be/x.opus", MusicRequest("https://youtu.be/x.opus", True)),
        ("HTTP://example.com/a.wav", MusicRequest("http://example.com/a.wav", True)),
    ],
)
def test_words_are_searched_and_allowed_links_played(query: str, expected: MusicRequest) -> None:
    assert classify(query, ALLOWED) == expected


@pytest.mark.parametrize(
    "query",
    [
        "http://127.0.0.1:8080/admin",
        "file:///etc/passwd",
        "file:///home/bot/song.mp3",
        "ftp://youtube.com/x.mp3",
        "https://youtube.com.evil.example/watch",
        "https://evil.example/song.mp3/page",
        "https://evil.example/page?file=song.mp3",
        "http://[not-an-address/song.mp3",
    ],
)
def test_other_links_are_refused(query: str) -> None:
    with pytest.raises(MusicRefused) as refused:
        classify(query, ALLOWED)
    assert refused.value.reason == "link_not_allowed"


def test_any_link_to_a_media_server_is_a_direct_link() -> None:
    media_hosts = frozenset({"music.example"})
    stream = "https://Music.Example/rest/stream?id=7&u=alice&t=ab&s=cd"
    assert classify(stream, ALLOWED, media_hosts) == MusicRequest(stream, direct=True)
    assert classify("https://youtu.be/abc", ALLOWED, media_hosts) == MusicRequest(
        "https://youtu.be/abc"
    )
    with pytest.raises(MusicRefused) as refused:  # another host still needs the extension
        classify("https://other.example/rest/stream?id=7", ALLOWED, media_hosts)
    assert refused.value.reason == "link_not_allowed"


def info(**fields: Any) -> dict[str, Any]:
    return {
        "title": "A song",
        "webpage_url": "https://www.youtube.com/watch?v=abc",
        "url": "https://1.1.1.1/stream",
        "duration": 200.4,
        **fields,
    }


def check(item: dict[str, Any], *, allow_private_network: bool = False) -> Any:
    return judge(
        item, allowed_hosts=ALLOWED, max_seconds=600, allow_private_network=allow_private_network
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
        (info(url="http://224.0.0.1/stream"), "unplayable"),  # multicast: "global" to Python
    ]:
        with pytest.raises(MusicRefused) as refused:
            check(item)
        assert refused.value.reason == reason, item
    # Private stream hosts only when the operator allows their private network.
    assert check(info(url="http://127.0.0.1/stream"), allow_private_network=True)
    with pytest.raises(MusicRefused):
        check(info(url="http://169.254.169.254/stream"), allow_private_network=True)


async def test_yt_dlp_with_its_generic_extractor_reads_a_page_of_the_media_server(
    media: Media,
) -> None:
    resolver = MusicResolver(
        allowed_hosts={"localhost"},
        max_seconds=60,
        allow_private_network=True,
        allow_generic_extractor=True,  # tests only
    )
    page = media.server.add_page("one-song", "One song", ["song.ogg"])
    request = resolver.classify(page)
    assert not request.direct
    track = await resolver.resolve(request)
    assert track.page_url == page
    assert track.stream_url == media.song_ogg
    assert track.follow_redirects  # yt-dlp's streams (googlevideo) may redirect


async def test_without_the_generic_extractor_a_plain_site_is_not_read(media: Media) -> None:
    resolver = MusicResolver(
        allowed_hosts={"localhost"}, max_seconds=60, allow_private_network=True
    )
    page = media.server.add_page("not-read", "Not read", ["song.ogg"])
    before = len(media.server.requests)
    with pytest.raises(MusicRefused) as refused:
        await resolver.resolve(resolver.classify(page))
    assert refused.value.reason == "unplayable"
    assert media.server.requests[before:] == []
