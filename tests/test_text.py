"""Text shown to people: a token a server echoes back, even altered, is found so that it can be blanked out."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from hdcore.config import Secret
from hdcore.text import echoes, redacted, shortened

TOKEN = "r8_Sentinel/Token+0123"


def test_an_echo_in_any_case_or_url_encoding_is_found_and_blanked():
    text = f"a {TOKEN} b {TOKEN.upper()} c {TOKEN.lower()} d {quote(TOKEN, safe='')} e {quote_plus(TOKEN).lower()}"

    blanked = redacted(text, echoes(text, [Secret(TOKEN)]))
    assert blanked == "a ******** b ******** c ******** d ******** e ********"


def test_no_token_no_echo():
    assert echoes("nothing to see", [None, "", Secret("")]) == []


def test_masking_before_shortening_leaves_no_prefix_of_the_token_at_the_cut():
    text = "x" * 190 + " " + TOKEN + " tail"

    assert "r8_Sen..." in shortened(text)  # what cutting first would have left behind
    assert "r8_" not in shortened(redacted(text, echoes(text, [TOKEN])))
