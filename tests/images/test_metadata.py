"""ICC profiles: kept when they fit the output's colour space, dropped with a warning when not."""

from __future__ import annotations

import pytest
from PIL import Image

from hdcore.images import FORMATS, encode_image, load_image
from tests.images.helpers import astronaut, camera, encoded, reopen, upscale_2x, srgb_profile, fake_profile


def test_icc_profile_is_kept() -> None:
    profile = srgb_profile()
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", icc_profile=profile))
    assert loaded.icc_profile == profile


def test_profile_for_another_colour_space_is_dropped() -> None:
    loaded = load_image(encoded(Image.fromarray(camera()), "PNG", icc_profile=srgb_profile()))
    assert loaded.icc_profile is None
    assert any("dropped" in note for note in loaded.warnings)


@pytest.mark.parametrize("output_format", FORMATS)
def test_icc_profile_bytes_are_identical_after_the_round_trip(output_format: str) -> None:
    profile = srgb_profile()
    loaded = load_image(encoded(Image.fromarray(astronaut()), "PNG", icc_profile=profile))
    result = encode_image(upscale_2x(loaded), output_format)
    assert reopen(result.data).info.get("icc_profile") == profile


def test_gray_profile_is_kept_for_gray_output_and_dropped_when_webp_makes_it_rgb() -> None:
    profile = fake_profile(b"GRAY")
    loaded = load_image(encoded(Image.fromarray(camera()), "PNG", icc_profile=profile))
    assert loaded.icc_profile == profile
    for output_format in ("png", "jpeg"):
        assert reopen(encode_image(upscale_2x(loaded), output_format).data).info.get("icc_profile") == profile
    webp = encode_image(upscale_2x(loaded), "webp")
    assert reopen(webp.data).info.get("icc_profile") is None
    assert any("GRAY" in note for note in webp.warnings)
