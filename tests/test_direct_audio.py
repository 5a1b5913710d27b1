"""Direct links to audio files, read without yt-dlp: every check, on the loopback media server
(real HTTP, the real FFmpeg probe)."""

from __future__ import annotations

import ipaddress

import pytest

from services.voice.direct_audio import (
    MAX_FILE_BYTES,
    DirectAudio,
    IPAddress,
    Lookup,
    address_allowed,
    parse_probe,
    system_lookup,
    title_for,
)
from services.voice.music_source import MusicRefused
from tests.audio import FFMPEG
from tests.conftest import Media

PUBLIC = ipaddress.ip_address("93.184.216.34")


def direct(
    *,
    private: bool = False,
    max_seconds: int = 60,
    max_bytes: int = MAX_FILE_BYTES,
    lookup: Lookup = system_lookup,
) -> DirectAudio:
    return DirectAudio(
        ffmpeg=FFMPEG,
        max_seconds=max_seconds,
        max_bytes=max_bytes,
        allow_private_network=private,
        timeout=2.0,
        lookup=lookup,
    )


async def refused(resolver: DirectAudio, url: str) -> str:
    with pytest.raises(MusicRefused) as caught:
        await resolver.resolve(url)
    return caught.value.reason


async def localhost_is_public(host: str) -> list[IPAddress]:
    """A DNS where the media server's "localhost" is a public host (and nothing else moves):
    so that a redirect from a public host into private space can be tried on loopback."""
    return [PUBLIC] if host == "localhost" else await system_lookup(host)


async def test_a_direct_link_plays_with_its_tags_or_its_file_name_as_the_title(
    media: Media,
) -> None:
    resolver = direct(private=True)
    tagged = await resolver.resolve(media.tagged)
    assert tagged.title == "The Testers – Tagged Tone"
    assert tagged.duration_seconds == 2
    assert (tagged.page_url, tagged.stream_url) == (media.tagged, media.tagged)
    assert tagged.follow_redirects is False  # FFmpeg follows no redirect the checks did not see
    untagged = await resolver.resolve(media.song_ogg)
    assert (untagged.title, untagged.duration_seconds) == ("song", 1)


async def test_private_and_loopback_addresses_only_when_the_operator_allows_them(
    media: Media,
) -> None:
    before = len(media.server.requests)
    for url in (media.song, media.server.url("song.mp3", "127.0.0.1")):
        assert await refused(direct(), url) == "private_network"
    assert media.server.requests[before:] == []  # refused before anything was fetched
    assert (await direct(private=True).resolve(media.song)).title == "song"


async def test_a_redirect_into_private_space_is_refused_unless_allowed(media: Media) -> None:
    into_private = media.server.url("song.mp3", "127.0.0.1")
    link = media.server.add_redirect("to-private.mp3", into_private)
    before = len(media.server.requests)
    assert await refused(direct(lookup=localhost_is_public), link) == "private_network"
    assert media.server.requests[before:] == ["to-private.mp3"]  # the target: never asked
    track = await direct(private=True, lookup=localhost_is_public).resolve(link)
    assert (track.page_url, track.stream_url) == (link, into_private)  # the queue keeps the link


async def test_file_and_other_schemes_are_refused_always_even_after_a_redirect(
    media: Media,
) -> None:
    resolver = direct(private=True)
    for url in ("file:///etc/passwd.mp3", "ftp://localhost/song.mp3", "data:audio/mp3,xx"):
        assert await refused(resolver, url) == "link_not_allowed", url
    link = media.server.add_redirect("to-file.mp3", "file:///etc/passwd")
    assert await refused(resolver, link) == "link_not_allowed"
    broken = media.server.add_redirect("to-nowhere.mp3", "http://[::1/song.mp3")
    assert await refused(resolver, broken) == "unplayable"  # a malformed answer
    port = media.server.add_redirect("to-no-port.mp3", "http://localhost:99999/song.mp3")
    assert await refused(resolver, port) == "link_not_allowed"
    # An upper-case scheme is the same link; FFmpeg is handed it in lower case.
    shouting = media.song.replace("http://", "HTTP://")
    assert (await resolver.resolve(shouting)).stream_url == media.song


async def test_an_answer_that_is_not_audio_is_refused(media: Media) -> None:
    page = media.server.add_page("page.mp3", "Not a song", [])  # text/html
    assert await refused(direct(private=True), page) == "not_audio"
    # Served as audio/mpeg, but FFmpeg finds no audio in the bytes.
    assert await refused(direct(private=True), media.broken) == "not_audio"


async def test_a_link_without_an_audio_extension_must_be_answered_as_audio(media: Media) -> None:
    """A media server's stream link (Subsonic's `/rest/stream?id=...`): played when the
    answer says audio; "some bytes" is believed only from a link that ends in an extension."""
    song = media.server.files["tagged.mp3"]
    stream = media.server.add_file("rest/stream", song, content_type="audio/mpeg")
    track = await direct(private=True).resolve(f"{stream}?id=7&u=alice&t=ab&s=cd&c=bot")
    assert (track.title, track.duration_seconds) == ("The Testers – Tagged Tone", 2)
    radio = media.server.add_file(
        "radio", media.server.files["song.ogg"], content_type="application/ogg"
    )
    assert (await direct(private=True).resolve(radio)).title == "radio"
    octets = media.server.add_file("rest/download", song, content_type="application/octet-stream")
    assert await refused(direct(private=True), octets) == "not_audio"
    named = media.server.add_file("bytes.mp3", song, content_type="application/octet-stream")
    assert (await direct(private=True).resolve(named)).duration_seconds == 2
    page = media.server.add_page("rest/ping", "Not a song", [])
    assert await refused(direct(private=True), page) == "not_audio"
    # What the member's link says counts, not where its redirects end (a CDN's blob URL).
    via = media.server.add_redirect("song-via-cdn.mp3", octets)
    assert (await direct(private=True).resolve(via)).stream_url == octets
    back = media.server.add_redirect("rest/redirect", named)
    assert await refused(direct(private=True), back) == "not_audio"


async def test_too_long_and_too_large_are_refused(media: Media) -> None:
    assert await refused(direct(private=True, max_seconds=10), media.long_song) == "too_long"
    before = len(media.server.requests)
    assert await refused(direct(private=True, max_bytes=10_000), media.long_song) == "too_large"
    assert media.server.requests[before:] == ["long.mp3"]  # one GET's headers; no probe


async def test_missing_files_and_endless_redirects_are_unplayable(media: Media) -> None:
    assert await refused(direct(private=True), media.server.url("missing.mp3")) == "unplayable"
    loop = media.server.add_redirect("loop.mp3", media.server.url("loop.mp3"))
    assert await refused(direct(private=True), loop) == "unplayable"


@pytest.mark.parametrize(
    ("address", "public_only", "with_private_network"),
    [
        ("93.184.216.34", True, True),
        ("2606:2800:220:1:248:1893:25c8:1946", True, True),
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("10.1.2.3", False, True),
        ("192.168.1.20", False, True),
        ("fd12::5", False, True),
        ("100.101.102.103", False, True),  # carrier NAT, Tailscale
        ("::ffff:127.0.0.1", False, True),
        ("64:ff9b::a01:203", False, True),  # NAT64 of 10.1.2.3
        ("169.254.169.254", False, False),  # link-local: cloud metadata
        ("fe80::1", False, False),
        ("224.0.0.1", False, False),  # multicast, which Python calls "global"
        ("ff02::1", False, False),
        ("0.0.0.0", False, False),
        ("240.0.0.1", False, False),
    ],
)
def test_which_addresses_may_be_fetched(
    address: str, public_only: bool, with_private_network: bool
) -> None:
    ip = ipaddress.ip_address(address)
    assert address_allowed(ip, private_network=False) is public_only
    assert address_allowed(ip, private_network=True) is with_private_network


def test_a_radio_is_named_by_its_station_and_a_file_by_its_name() -> None:
    radio = parse_probe(
        "Input #0, mp3, from 'http://radio.example/live.mp3':\n"
        "  Metadata:\n"
        "    icy-name        : Radio Loopback\n"
        "    StreamTitle     : Now on air\n"
        "  Duration: N/A, start: 0.000000, bitrate: 128 kb/s\n"
        "  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, stereo, fltp, 128 kb/s\n"
    )
    assert radio.duration_seconds is None  # a stream: played up to MUSIC_MAX_MINUTES (-t)
    assert title_for("http://radio.example/live.mp3", radio.tags) == "Radio Loopback"
    assert title_for("https://x.example/My%20Song.flac?k=1", {}) == "My Song"
    assert title_for("https://x.example/a.mp3", {"title": "T\x1b[31m\nitle"}) == "T [31m itle"
