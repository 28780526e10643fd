"""hdcore.webapp.sizing: the size widgets' values into a request, and the output shown before a run."""

from __future__ import annotations

import pytest

from hdcore import webapp
from hdcore.config import Config

LIMIT = Config().max_output_pixels


def test_the_factor_choices_are_the_tiers_native_scales_then_a_custom_one():
    assert webapp.factor_options([2, 4]) == [2, 4, webapp.CUSTOM_FACTOR]
    assert [webapp.factor_label(c) for c in webapp.factor_options([2, 3, 4])] == ["2×", "3×", "4×", "Custom…"]


@pytest.mark.parametrize("way, values, expected", [
    ("factor", {"factor": 3}, webapp.OutputSize(scale=3)),
    ("factor", {"factor": webapp.CUSTOM_FACTOR, "custom": 2.5}, webapp.OutputSize(scale=2.5)),
    ("box", {"width": 3840, "height": None, "fit": "fill"}, webapp.OutputSize(width=3840)),  # fill needs both sides
    ("box", {"width": 1920, "height": 1080, "fit": "fill"}, webapp.OutputSize(width=1920, height=1080, fit="fill")),
    ("box", {"width": None, "height": 720, "fit": "within"}, webapp.OutputSize(height=720)),
    ("longest", {"longest_side": 2000}, webapp.OutputSize(longest_side=2000)),
])  # fmt: skip
def test_the_widgets_values_become_one_way_of_asking(way, values, expected):
    assert webapp.chosen_size(way, values) == expected


def test_a_box_or_longest_side_left_empty_says_what_is_missing_and_shows_no_size():
    empty_box = webapp.chosen_size("box", {"width": None, "height": None})
    assert empty_box.missing == "enter a width, a height or both"
    assert webapp.preview_size(empty_box, (100, 100), LIMIT) == webapp.SizePreview("", error=empty_box.missing)
    assert webapp.chosen_size("longest", {"longest_side": None}).missing == "enter the longest side"


def test_the_keywords_are_what_engine_enhance_takes_and_the_label_names_the_file():
    size = webapp.OutputSize(width=3840)
    assert size.keywords == {"scale": 4, "width": 3840, "height": None, "longest_side": None, "fit": "within"}
    assert (size.label, webapp.OutputSize(scale=2.5).label, webapp.OutputSize(longest_side=2000).label) == (
        "w3840", "x2.5", "long2000")  # fmt: skip
    assert webapp.OutputSize(width=1920, height=1080, fit="fill").label == "1920x1080"


def test_a_width_of_3840_for_a_1000_px_photo_runs_4x_then_resizes_to_exactly_3840_wide():
    preview = webapp.preview_size(webapp.OutputSize(width=3840), (1000, 667), LIMIT)
    assert preview.output == (3840, 2561) and not preview.error
    assert preview.text == "1000 × 667 → 3840 × 2561 px · 3.84×: 4×, then resized"


def test_a_native_factor_says_it_is_the_models_own_scale_and_past_4x_runs_twice():
    assert webapp.preview_size(webapp.OutputSize(scale=2), (32, 24), LIMIT).text == (
        "32 × 24 → 64 × 48 px · 2×, the models' own scale")  # fmt: skip
    assert webapp.preview_size(webapp.OutputSize(scale=6), (32, 24), LIMIT).text == (
        "32 × 24 → 192 × 144 px · 6×: 4× then 2×, then resized")  # fmt: skip


def test_fill_and_crop_gives_exactly_the_box():
    preview = webapp.preview_size(webapp.OutputSize(width=64, height=64, fit="fill"), (32, 24), LIMIT)
    assert preview.output == (64, 64) and preview.text.endswith("2.67×: 3×, then resized, centre cropped")


def test_a_size_out_of_range_or_over_the_pixel_limit_is_one_line_before_anything_runs():
    too_far = webapp.preview_size(webapp.OutputSize(width=1000), (32, 24), LIMIT)
    assert too_far.output is None and "enlarges 1.1x to 8x" in too_far.error and "\n" not in too_far.error
    too_many = webapp.preview_size(webapp.OutputSize(scale=8), (4000, 3000), LIMIT)
    assert too_many.error.startswith("output too large: ") and too_many.output is None


def test_before_an_upload_the_preview_says_what_was_asked():
    assert webapp.preview_size(webapp.OutputSize(scale=2.5), None, LIMIT).text == "2.5× the upload"
    assert webapp.preview_size(webapp.OutputSize(width=3840), None, LIMIT).text == "3840 px wide, the height to match"
    assert webapp.preview_size(webapp.OutputSize(width=1920, height=1080, fit="fill"), None, LIMIT).text == (
        "1920 × 1080 px exactly, the centre cropped")  # fmt: skip


def test_the_native_scale_of_the_first_pass_picks_the_options():
    assert webapp.OutputSize(scale=2.5).native_scale() == 3
    assert webapp.OutputSize(scale=6).native_scale() == 4
    assert webapp.OutputSize(width=100).native_scale((64, 48)) == 2
    assert webapp.OutputSize(width=100).native_scale() == 4  # not known without the upload's size
    assert webapp.OutputSize(width=100_000).native_scale((64, 48)) == 4  # out of range: the run will say so
