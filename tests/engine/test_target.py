"""Any output size: a factor from 1.1 to 8, a width and/or height (fit within, or fill and crop), a longest side.
The chain runs the smallest native scale at or above the need (twice past 4x) and one exact resize."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import hdcore
from hdcore import Config, Engine, ImageTooLarge, InvalidInput
from hdcore.engine.target import resolve
from tests.conftest import ScriptedProvider, photo, png_bytes, scripted_registry
from tests.test_cli import run as run_cli

CONFIG = Config(timeouts={})


@pytest.mark.parametrize("asked, passes, size, crop", [
    (dict(scale=2), (2,), (200, 100), None),
    (dict(scale=2.5), (3,), (250, 125), None),
    (dict(scale=1.1), (2,), (110, 55), None),
    (dict(scale=8), (4, 2), (800, 400), None),
    (dict(scale=5.5), (4, 2), (550, 275), None),
    (dict(width=384), (4,), (384, 192), None),
    (dict(height=384), (4, 2), (768, 384), None),
    (dict(width=300, height=300), (3,), (300, 150), None),  # fit within: the width limits
    (dict(width=300, height=300, fit="fill"), (4, 2), (600, 300), (150, 0, 450, 300)),  # cover: 6x, crop the centre
    (dict(longest_side=700), (4, 2), (700, 350), None),
])  # fmt: skip
def test_a_request_resolves_to_native_passes_and_one_exact_size(asked, passes, size, crop):
    target = resolve((100, 50), **asked)
    assert (target.passes, target.resized, target.crop) == (passes, size, crop)


@pytest.mark.parametrize("asked, message", [
    (dict(scale=9), "hdcore enlarges 1.1x to 8x"),
    (dict(width=105), r"a 105x\? px target is a 1.05x enlargement"),
    (dict(width=10_000), r"a 10000x\? px target is a 100x enlargement"),
    (dict(width=0), "width must be a whole number of pixels"),
    (dict(height=2.5), "height must be a whole number of pixels"),
    (dict(width=200, fit="stretch"), "fit must be 'within' or 'fill'"),
])  # fmt: skip
def test_an_unusable_size_is_one_line(asked, message):
    with pytest.raises(InvalidInput, match=message):
        resolve((100, 50), **asked)


def test_the_engine_delivers_the_exact_size_and_says_how():
    tier = ScriptedProvider(CONFIG, "tier")
    engine = Engine(CONFIG, scripted_registry(tier))
    result = engine.enhance(png_bytes(photo((100, 50))), width=384)
    assert result.image.size == (384, 192) and [r.scale for r in tier.requests] == [4]
    assert "3.84x: 4x, resized to 384x192" in result.warnings and result.scale == pytest.approx(3.84)
    eight = engine.enhance(png_bytes(photo((20, 10))), scale=8)
    assert eight.image.size == (160, 80) and [r.scale for r in tier.requests[1:]] == [4, 2]
    assert [a.output_size for a in eight.attempts] == [(80, 40), (160, 80)]


def test_fill_and_crop_keeps_the_centre_and_the_transparency():
    source = np.zeros((50, 100, 4), np.uint8)
    source[..., 0], source[..., 3] = 200, 255
    source[:, :25, 3] = 0  # the left quarter is transparent: cropped away by a square fill
    data = io.BytesIO()
    Image.fromarray(source, "RGBA").save(data, "PNG")
    result = Engine(CONFIG, scripted_registry(ScriptedProvider(CONFIG, "tier"))).enhance(
        data.getvalue(), width=100, height=100, fit="fill")
    assert result.image.size == (100, 100) and result.image.mode == "RGBA"
    alpha = np.asarray(result.image)[..., 3]
    assert alpha[:, 10:90].min() > 200  # the opaque middle; the transparent edge is cropped off


def test_every_intermediate_size_is_held_to_the_output_limit():
    engine = Engine(Config(timeouts={}, max_output_pixels=100 * 100), scripted_registry(ScriptedProvider(CONFIG, "t")))
    with pytest.raises(ImageTooLarge):
        engine.enhance(png_bytes(photo((20, 20))), scale=5)  # 5x is 100x100, but 4x then 2x passes 160x160
    assert engine.enhance(png_bytes(photo((20, 20))), scale=4).image.size == (80, 80)


def test_the_seed_contract_takes_a_width_and_answers_at_it():
    engine = Engine(CONFIG, scripted_registry(ScriptedProvider(CONFIG, "tier")))
    import base64

    answer = hdcore.hd_image(base64.b64encode(png_bytes(photo((50, 40)))).decode(), width=120, engine=engine)
    assert answer["success"] and answer["output_size"] == [120, 96]
    bad = hdcore.hd_image(base64.b64encode(png_bytes(photo((50, 40)))).decode(), width=-3, engine=engine)
    assert bad["success"] is False and "width must be a whole number of pixels" in bad["error"]


def test_the_cli_takes_a_width_and_names_the_output_by_it(tmp_path):
    image = tmp_path / "wide.png"
    photo((60, 40)).save(image)
    done = run_cli("upscale", str(image), "--width", "150", "--provider", "lanczos", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    assert record["output"].endswith("wide_w150.png") and record["output_size"] == [150, 100]
    assert Image.open(tmp_path / "wide_w150.png").size == (150, 100)
    clash = run_cli("upscale", str(image), "--width", "150", "--scale", "2", "--provider", "lanczos")
    assert clash.returncode == 2 and "give one size" in clash.stderr
