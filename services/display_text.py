"""Text from outside (track titles, members' links) made safe to show and to log.

A track's title comes from whoever published the file or the page: shown as it is, it could
be a masked link (`[Free Nitro](https://phish.example)`), a mention or a heading. A member's
link may carry a key in its query string (`?api_key=...`); that must reach neither the logs
nor a public `/queue`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# A URL as Discord would link it: a scheme, `://`, then anything up to a space or a bracket.
URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>`\"']+")
# Punctuation that ends a sentence rather than a URL.
_TRAILING = ".,;:!?'\"*_~"
# Query parameters that name what a page is and carry no secret: YouTube's video id.
KEPT_QUERY_KEYS = frozenset({"v"})
# Discord's markdown, mentions and links: `[` makes a masked link, `<@` a mention, `#` and `-`
# a heading or a list at the start of a line; escaping `:` keeps `https\://...` unlinked.
_MARKDOWN = re.compile(r"([\\*_~|`>#\-\[\]()<@:])")
TITLE_LIMIT = 200


def trim_url(candidate: str) -> str:
    """`candidate` without the sentence punctuation that followed it (a closing parenthesis
    too, unless it closes one the URL opened, as in Wikipedia's `Foo_(bar)`)."""
    while candidate and (
        candidate[-1] in _TRAILING
        or (candidate[-1] == ")" and candidate.count(")") > candidate.count("("))
    ):
        candidate = candidate[:-1]
    return candidate


def redact_url(url: str) -> str:
    """`url` without its user and password, its fragment, and query parameters other than a
    video id."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    kept = urlencode([(key, value) for key, value in query if key in KEPT_QUERY_KEYS])
    return urlunsplit((parts.scheme, netloc, parts.path, kept, ""))


def redact_urls(text: str) -> str:
    """Every URL in `text` through `redact_url` (for log lines)."""
    return URL.sub(lambda match: _redact_match(match.group(0)), text)


def _redact_match(found: str) -> str:
    url = trim_url(found)
    return redact_url(url) + found[len(url) :]


def display_title(title: str) -> str:
    """A title as plain text: one line, cut, its markdown escaped and its URLs unlinked, so it
    can be neither a masked link nor a mention nor a heading."""
    line = " ".join(title.split())[:TITLE_LIMIT]
    return _MARKDOWN.sub(r"\\\1", line)


def track_label(title: str, page_url: str) -> str:
    """How a track is named in answers and in `/queue`: its title as plain text, then where it
    is, in full view (never a masked link), without its query string."""
    return f"{display_title(title)} ({redact_url(page_url)})"


def fit_lines(lines: list[str], limit: int) -> str:
    """As many lines as fit in `limit` characters (an embed field's), then a count of the
    rest; a dash when there are none."""
    shown: list[str] = []
    for n, line in enumerate(lines):
        rest = f"… +{len(lines) - n}"
        if sum(len(s) + 1 for s in shown) + len(line) + len(rest) + 1 > limit:
            shown.append(rest)
            break
        shown.append(line)
    return "\n".join(shown) or "—"
