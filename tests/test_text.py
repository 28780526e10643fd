"""Text shown to people: a token a server echoes back, even altered, is found so that it can be blanked out."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from hdcore.config import Secret
from hdcore.text import redacted, shortened, usd

TOKEN = "r8_Sentinel/Token+0123"


def test_an_echo_in_any_case_or_url_encoding_is_found_and_blanked():
    text = f"a {TOKEN} b {TOKEN.upper()} c {TOKEN.lower()} d {quote(TOKEN, safe='')} e {quote_plus(TOKEN).lower()}"

    blanked = redacted(text, [Secret(TOKEN)])
    assert blanked == "a ******** b ******** c ******** d ******** e ********"


def test_no_token_nothing_masked():
    assert redacted("nothing to see", [None, "", Secret("")]) == "nothing to see"


def test_masking_before_shortening_leaves_no_prefix_of_the_token_at_the_cut():
    text = "x" * 190 + " " + TOKEN + " tail"

    assert "r8_Sen..." in shortened(text)  # what cutting first would have left behind
    assert "r8_" not in shortened(redacted(text, [TOKEN]))


def test_money_reads_as_people_write_it():
    assert (usd(0), usd(0.0019), usd(4.984), usd(1234.5)) == ("$0", "$0.0019", "$4.98", "$1,234.50")
