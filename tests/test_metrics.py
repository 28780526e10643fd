"""Quality metrics against known values: identical images, a known offset, a known blur (vs scikit-image)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from skimage import data, filters
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from hdcore import Config, Engine, metrics
from hdcore.resize import lanczos_resize
from tests.conftest import ScriptedProvider, scripted_registry


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()[:256, 128:384].astype(np.float32) / 255


@pytest.fixture(scope="module")
def blurred(astronaut) -> np.ndarray:
    return filters.gaussian(astronaut, sigma=1.5, channel_axis=-1).astype(np.float32)


def test_identical_images_have_infinite_psnr_and_ssim_one(astronaut):
    assert metrics.psnr(astronaut, astronaut.copy()) == math.inf
    assert metrics.ssim(astronaut, astronaut.copy()) == pytest.approx(1.0, abs=1e-6)


def test_a_known_offset_gives_40_db_and_the_closed_form_ssim():
    a = np.full((32, 32, 3), 0.5, np.float32)
    b = a + np.float32(0.01)  # MSE 1e-4 -> 40 dB; flat images: SSIM is its luminance term alone
    c1 = 0.01**2
    assert metrics.psnr(a, b) == pytest.approx(40.0, abs=1e-3)
    assert metrics.ssim(a, b) == pytest.approx((2 * 0.5 * 0.51 + c1) / (0.5**2 + 0.51**2 + c1), abs=1e-5)


def test_a_known_blur_matches_scikit_image(astronaut, blurred):
    expected_ssim = structural_similarity(
        metrics.luminance(astronaut), metrics.luminance(blurred), data_range=1.0, gaussian_weights=True,
        sigma=1.5, use_sample_covariance=False,
    )
    expected_psnr = peak_signal_noise_ratio(astronaut, blurred, data_range=1.0)
    assert metrics.psnr(astronaut, blurred) == pytest.approx(expected_psnr, abs=1e-3)
    assert metrics.ssim(astronaut, blurred) == pytest.approx(expected_ssim, abs=1e-3)
    assert 0.5 < metrics.ssim(astronaut, blurred) < 0.95  # a real difference, not a degenerate case


def test_gray_images_match_scikit_image_too():
    camera = data.camera().astype(np.float32) / 255
    blurred = filters.gaussian(camera, sigma=2.0).astype(np.float32)
    expected = structural_similarity(camera, blurred, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert metrics.ssim(camera, blurred) == pytest.approx(expected, abs=1e-3)


def test_ssim_works_on_images_smaller_than_its_window():
    tiny = np.random.default_rng(0).random((6, 5, 3), dtype=np.float32)
    assert metrics.ssim(tiny, tiny) == pytest.approx(1.0)
    assert metrics.ssim(tiny, tiny * 0.5) < 1.0


def test_shapes_must_match(astronaut):
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(astronaut, astronaut[:-1])


def test_sharpness_of_a_pixel_checkerboard_and_of_a_flat_image():
    # Every interior pixel's Laplacian is +-4 (x 255): mean 0, variance 1020^2.
    board = (np.indices((34, 34)).sum(axis=0) % 2).astype(np.float32)
    assert metrics.sharpness(board) == pytest.approx(1020.0**2)
    assert metrics.sharpness(np.full((20, 20, 3), 0.3, np.float32)) == 0.0


def test_blur_lowers_sharpness(astronaut, blurred):
    assert metrics.sharpness(blurred) < metrics.sharpness(astronaut) / 5


def test_lr_consistency_of_a_pixel_repeat_is_perfect(astronaut):
    repeated = astronaut.repeat(2, axis=0).repeat(2, axis=1)  # area shrinking undoes it exactly
    assert metrics.lr_consistency(repeated, astronaut) == {"psnr": math.inf, "ssim": pytest.approx(1.0)}
    upscaled = lanczos_resize(astronaut, (512, 512))
    faithful = metrics.lr_consistency(upscaled, astronaut)
    shifted = metrics.lr_consistency(np.roll(upscaled, 3, axis=1), astronaut)
    assert 35 < faithful["psnr"] < math.inf and faithful["ssim"] > 0.99
    assert shifted["psnr"] < faithful["psnr"] - 10  # content moved: not faithful to the input


def test_quality_report_measures_small_images_whole(astronaut):
    upscaled = lanczos_resize(astronaut, (512, 512))
    report = metrics.quality_report(astronaut, upscaled)
    full = metrics.lr_consistency(upscaled, astronaut)
    assert report["sampled"] == 1.0
    assert report["lr_psnr"] == pytest.approx(full["psnr"], abs=1e-3)
    assert report["lr_ssim"] == pytest.approx(full["ssim"], abs=1e-4)
    assert report["sharpness"] == pytest.approx(metrics.sharpness(upscaled), rel=1e-4)


def test_quality_report_samples_large_images_and_stays_close_to_the_whole():
    photo = data.astronaut().astype(np.float32) / 255
    upscaled = lanczos_resize(photo, (1024, 1024))  # 1 MP of output: the budget below forces sampling
    sampled = metrics.quality_report(photo, upscaled, max_output_pixels=1 << 18)
    whole = metrics.quality_report(photo, upscaled, max_output_pixels=1 << 21)
    assert sampled["sampled"] == pytest.approx(0.25, abs=0.02) and whole["sampled"] == 1.0
    assert sampled["lr_psnr"] == pytest.approx(whole["lr_psnr"], abs=2.0)  # 1.6 dB apart, measured
    assert sampled["lr_ssim"] == pytest.approx(whole["lr_ssim"], abs=0.01)
    assert sampled["sharpness"] == pytest.approx(whole["sharpness"], rel=0.35)


def test_sample_windows_stay_within_the_budget_and_the_image():
    windows = metrics.sample_windows((4000, 3000), 4, max_output_pixels=1 << 20)
    assert len(windows) == metrics.SAMPLE_GRID**2
    assert sum(w.width * w.height for w in windows) * 16 <= 1 << 20
    assert all(w.left + w.width <= 4000 and w.top + w.height <= 3000 for w in windows)
    assert {w.left for w in windows} >= {0, 4000 - windows[0].width}  # edge to edge


def test_every_run_reports_its_quality_in_to_dict(photo_png):
    engine = Engine(Config())
    result = engine.enhance(photo_png, 2, "lanczos")
    record = result.to_dict()
    assert set(record["quality"]) == {"lr_psnr", "lr_ssim", "sharpness", "sampled"}
    assert record["quality"]["lr_ssim"] > 0.95 and record["quality"]["sharpness"] > 0
    assert result.quality is result.quality  # measured once
    assert result._source_color is None  # dropped once measured
    json.dumps(record, allow_nan=False)


def test_an_infinite_psnr_is_null_in_json(photo_png):
    def pixel_repeat(request):
        return request.image.repeat(request.scale, axis=0).repeat(request.scale, axis=1)

    exact = ScriptedProvider(Config(), "exact", pixel_repeat)
    result = Engine(Config(), scripted_registry(exact)).enhance(photo_png, 2)
    assert result.quality["lr_psnr"] == math.inf
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["quality"]["lr_psnr"] is None
