"""What the cloud tiers share (hdcore/providers/remote.py and hdcore.text.redacted): a token is masked however a
server echoes it, before any shortening; a duration from outside is bounded; a streamed body is capped."""

from __future__ import annotations

import html
import json
import math
import re
import urllib.parse
from datetime import datetime, timezone

import pytest

from hdcore.config import Secret
from hdcore.errors import BadOutput, TransientError
from hdcore.providers.remote import (
    MAX_MESSAGE_CHARS,
    MAX_RETRY_AFTER_S,
    bounded_seconds,
    declared_length,
    displayed_url,
    on_hosts,
    origin,
    provider_error,
    read_capped,
    retry_after_seconds,
)
from hdcore.text import MAX_DETAIL_CHARS, masked_and_shortened, redacted

TOKEN = "hf_Remote_Secret/Token+0123456789abcdef"


def leaked_fragments(token: str, text: str, window: int = 8) -> list[str]:
    """Any ``window`` characters of ``token`` readable in ``text`` once it is decoded every way an echo may
    encode it (case, percent and form encoding, JSON and HTML escapes): an independent check of the masking."""
    decoded = {text, urllib.parse.unquote(text), urllib.parse.unquote_plus(text), html.unescape(text)}
    decoded |= {_json_unescaped(variant) for variant in list(decoded)}
    pieces = {token[i : i + window].lower() for i in range(len(token) - window + 1)}
    return sorted(piece for piece in pieces if any(piece in variant.lower() for variant in decoded))


def _json_unescaped(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text).replace("\\/", "/")


ECHOES = {
    "as sent": TOKEN,
    "upper case": TOKEN.upper(),
    "lower case": TOKEN.lower(),
    "percent-encoded": urllib.parse.quote(TOKEN, safe=""),
    "percent-encoded, lower-case hex": urllib.parse.quote(TOKEN, safe="").lower(),
    "form-encoded": urllib.parse.quote_plus("Bearer " + TOKEN),
    "JSON-escaped": json.dumps(TOKEN).replace("/", "\\/"),
    "JSON unicode escapes": "".join(f"\\u{ord(c):04x}" for c in TOKEN),
    "HTML entities": "".join(f"&#{ord(c)};" for c in TOKEN),
    "HTML escaped": html.escape(TOKEN),
}


@pytest.mark.parametrize("echo", list(ECHOES.values()), ids=list(ECHOES))
def test_a_token_echoed_back_altered_is_masked(echo):
    text = f"upstream refused header Bearer {echo} (request 42)"
    masked = redacted(text, [Secret(TOKEN)])

    assert "********" in masked and masked.endswith("(request 42)")
    assert leaked_fragments(TOKEN, masked) == []
    assert leaked_fragments(TOKEN, text) != []  # the check itself sees the echo before masking


def test_every_token_is_masked_longest_first_and_an_empty_one_is_no_secret():
    short, long = "abc12345", "abc12345-and-more"
    assert redacted(f"{long} {short}", [short, long]) == "******** ********"
    assert redacted("nothing to hide", [Secret(""), None, ""]) == "nothing to hide"


@pytest.mark.parametrize("cut_at", [MAX_DETAIL_CHARS - 30, MAX_DETAIL_CHARS - 20, MAX_DETAIL_CHARS - 11])
def test_a_token_straddling_the_cut_is_masked_before_the_text_is_shortened(cut_at):
    text = "x" * cut_at + TOKEN + " and more words after it"
    before = text[: MAX_DETAIL_CHARS - 3]  # what shortening alone keeps
    assert TOKEN[:8] in before  # without masking first, a prefix of the token would survive

    shown = masked_and_shortened(text, [Secret(TOKEN)])
    assert len(shown) <= MAX_DETAIL_CHARS
    assert leaked_fragments(TOKEN, shown, window=4) == []


def test_a_providers_error_is_one_line_masked_then_shortened():
    server_text = "x" * (MAX_MESSAGE_CHARS - 40) + "\n" + TOKEN.upper() + " " + "y" * 500
    error = provider_error(TransientError, f"server error (HTTP 500): {server_text}", "hf", "m", Secret(TOKEN))

    assert isinstance(error, TransientError) and (error.provider, error.model) == ("hf", "m")
    assert "\n" not in str(error) and len(str(error)) <= MAX_MESSAGE_CHARS
    assert leaked_fragments(TOKEN, str(error), window=4) == []


# ---------------------------------------------------------------------------------------------- durations

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "header, expected",
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("-inf", 0.0),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 11:59:00 GMT", 0.0),  # already past
        ("99999999999999999999", MAX_RETRY_AFTER_S),
        ("1e308", MAX_RETRY_AFTER_S),
        ("1e999", MAX_RETRY_AFTER_S),  # float() makes it inf
        ("inf", MAX_RETRY_AFTER_S),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_S),
        ("9" * 5000, MAX_RETRY_AFTER_S),
    ],
)
def test_retry_after_is_a_finite_number_of_seconds_within_the_bound(header, expected):
    seconds = retry_after_seconds(header, NOW)
    assert seconds == expected and math.isfinite(seconds)


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "nan", "Thu, 99 Foo 2026"])
def test_a_retry_after_that_says_nothing_usable_is_none(header):
    assert retry_after_seconds(header, NOW) is None


def test_bounded_seconds_takes_only_numbers():
    assert bounded_seconds(1e308, 60.0) == 60.0 and bounded_seconds(-1, 60.0) == 0.0
    assert bounded_seconds(True, 60.0) is None and bounded_seconds("5", 60.0) is None
    assert bounded_seconds(float("nan"), 60.0) is None and bounded_seconds(None, 60.0) is None


# ----------------------------------------------------------------------------------------- capped reading


def too_large() -> BadOutput:
    return BadOutput("too large")


def test_a_body_is_read_whole_into_one_buffer_up_to_the_cap():
    chunks = [b"a" * 1000, b"b" * 24]
    assert read_capped(iter(chunks), 1024, too_large) == b"a" * 1000 + b"b" * 24


def test_an_endless_body_stops_at_the_first_chunk_past_the_cap():
    consumed = []

    def endless():
        while True:
            consumed.append(1)
            yield b"z" * 4096

    with pytest.raises(BadOutput, match="too large"):
        read_capped(endless(), 10_000, too_large)
    assert len(consumed) == 3  # 12,288 bytes seen, not one chunk more


def test_the_callers_checks_run_between_chunks():
    seen = []

    def stop_after_two() -> None:
        seen.append(1)
        if len(seen) > 2:
            raise TransientError("deadline")

    with pytest.raises(TransientError, match="deadline"):
        read_capped(iter([b"1", b"2", b"3", b"4"]), 100, too_large, check_before=stop_after_two)


@pytest.mark.parametrize("value, expected", [("12", 12), (" 7 ", 7), ("-1", None), ("lots", None), (None, None)])
def test_a_declared_length_is_a_whole_number_or_none(value, expected):
    assert declared_length({} if value is None else {"Content-Length": value}) == expected


# ------------------------------------------------------------------------------------------------ origins


def test_origins_fill_in_default_ports_and_a_bad_port_matches_nothing():
    assert origin("https://Router.HuggingFace.co/x") == ("https", "router.huggingface.co", 443)
    assert origin("http://127.0.0.1:8080/a") == ("http", "127.0.0.1", 8080)
    assert origin("http://127.0.0.1:notaport/") == ("http", "", -1)


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://owner-app.hf.space/file=x.png", True),
        ("https://huggingface.co/x", True),
        ("https://cdn-lfs.huggingface.co/x", True),
        ("http://owner-app.hf.space/x", False),  # never without TLS
        ("https://hf.space.evil.example/x", False),
        ("https://evilhuggingface.co/x", False),
        ("file:///etc/passwd", False),
        ("https://10.0.0.1/x", False),
    ],
)
def test_only_https_urls_on_the_listed_hosts_or_their_subdomains_are_on_hosts(url, allowed):
    assert on_hosts(url, ("hf.space", "huggingface.co")) is allowed


def test_a_url_is_shown_without_credentials_query_or_fragment():
    assert displayed_url("https://user:pass@ep.example.com:8443/run/?token=abc#x") == "https://ep.example.com:8443/run"
