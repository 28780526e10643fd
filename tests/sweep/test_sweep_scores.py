"""The sweep's scores: Y-channel PSNR / SSIM against scikit-image, LR consistency, and NIQE's behaviour and model."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image, ImageFilter
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from hdcore.sweep import niqe, niqe_fit
from hdcore.sweep.degrade import bicubic_downscale, bicubic_upscale, modcrop
from hdcore.sweep.scores import lr_psnr, niqe_y, psnr_y, score, ssim_y, y_channel


def skimage_y(image: np.ndarray, border: int) -> np.ndarray:
    """scikit-image's own BT.601 conversion (the same as MATLAB's rgb2ycbcr), cropped."""
    return rgb2ycbcr(image)[:, :, 0][border:-border, border:-border]


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(sigma)))


def noisy(image: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_y_psnr_and_ssim_equal_scikit_images_with_the_same_conversion_and_crop(name, scale):
    reference = modcrop(niqe_fit.sample_photo(name), scale)
    for output in (bicubic_upscale(bicubic_downscale(reference, scale), scale), jpeg(reference, 30)):
        truth_y, output_y = skimage_y(reference, scale), skimage_y(output, scale)
        expected_psnr = peak_signal_noise_ratio(truth_y, output_y, data_range=255)
        expected_ssim = structural_similarity(truth_y, output_y, data_range=255, gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False)
        assert psnr_y(output, reference, scale) == pytest.approx(expected_psnr, abs=0.01)
        assert ssim_y(output, reference, scale) == pytest.approx(expected_ssim, abs=0.0005)


def test_y_is_matlabs_rgb2ycbcr_luma_from_16_to_235():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(y_channel(pixels)[0], [16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966])


def test_a_difference_only_inside_the_cropped_border_does_not_count():
    reference = niqe_fit.sample_photo("astronaut")[:64, :64]
    output = reference.copy()
    output[:4] = 0  # the top 4 rows, all within the 4 px border cut at 4x
    assert psnr_y(output, reference, 4) == math.inf and ssim_y(output, reference, 4) == pytest.approx(1.0)
    assert psnr_y(output, reference, 3) < 40


def test_lr_consistency_is_infinite_for_the_reference_itself_and_lower_for_a_blurred_output():
    reference = modcrop(niqe_fit.sample_photo("coffee")[:200, :240], 4)
    low_res = bicubic_downscale(reference, 4)
    assert lr_psnr(reference, low_res, 4) == math.inf  # it is exactly what the input was made from
    upscaled = bicubic_upscale(low_res, 4)
    assert 30 < lr_psnr(blurred(upscaled, 2), low_res, 4) < lr_psnr(upscaled, low_res, 4) < 60


def test_score_gives_every_figure_and_refuses_an_output_of_another_size():
    reference = modcrop(niqe_fit.sample_photo("chelsea"), 2)
    low_res = bicubic_downscale(reference, 2)
    scores = score(bicubic_upscale(low_res, 2), reference, low_res, 2)
    assert 30 < scores.psnr_y < 40 and 0.8 < scores.ssim_y < 1 and scores.lr_psnr > 35
    assert scores.sharpness > 0 and 0 < scores.niqe < 100
    with pytest.raises(ValueError, match="the output is"):
        score(reference[:-2], reference, low_res, 2)


def test_niqe_ranks_a_sharp_photo_above_its_blurred_noisy_and_jpeg_crushed_versions_monotonically():
    photo = niqe_fit.sample_photo(niqe_fit.HELD_OUT_PHOTO)  # not one the pristine model was fitted on
    sharp = niqe_y(photo, 0)
    for distort, levels in ((blurred, (1, 2, 3)), (noisy, (5, 10, 20, 40)), (jpeg, (40, 20, 10, 5))):
        scores = [niqe_y(distort(photo, level), 0) for level in levels]
        assert [sharp] + scores == sorted([sharp] + scores), (distort.__name__, sharp, scores)
        assert scores[-1] > sharp + 10  # the worst level is far from pristine, not just a hair


def test_niqe_needs_one_96_px_patch():
    photo = niqe_fit.sample_photo("astronaut")
    assert niqe.niqe(y_channel(photo[:95, :400])) is None
    features, sharpness = niqe.patch_features(y_channel(photo[:200, :300]))
    assert features.shape == (2 * 3, niqe.FEATURES) and sharpness.shape == (6,) and np.isfinite(features).all()


def test_the_distribution_fits_recover_known_shapes():
    rng = np.random.default_rng(1)
    gaussian, laplacian = rng.normal(0, 1, (1, 200_000)), rng.laplace(0, 1, (1, 200_000))
    assert niqe._ggd(gaussian)[0][0] == pytest.approx(2.0, abs=0.05)
    assert niqe._ggd(laplacian)[0][0] == pytest.approx(1.0, abs=0.05)
    # An asymmetric Gaussian (shape 2) twice as wide on the left: its density is continuous at 0, so each side
    # holds mass in proportion to its width (2/3 on the left).
    left_side = rng.random((1, 200_000)) < 2 / 3
    asymmetric = np.where(left_side, -2 * np.abs(gaussian), np.abs(gaussian))
    shape, mean, left, right = niqe._aggd(asymmetric)
    assert shape[0] == pytest.approx(2.0, abs=0.05) and left[0] == pytest.approx(4 * right[0], rel=0.05)
    assert mean[0] < 0  # the wider left side pulls the mean below zero


def test_refitting_on_the_sample_photos_reproduces_the_shipped_model():
    shipped = niqe.shipped_model()
    refitted = niqe_fit.fit_pristine_model()
    assert refitted.patches == shipped.patches > niqe.FEATURES
    np.testing.assert_allclose(refitted.mean, shipped.mean, rtol=1e-9)
    np.testing.assert_allclose(refitted.covariance, shipped.covariance, rtol=1e-9, atol=1e-12)
    assert "public domain" in shipped.source and niqe_fit.HELD_OUT_PHOTO not in shipped.source


def test_a_model_file_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="36 means"):
        niqe.NiqeModel.from_json({"mean": [0.0] * 3, "covariance": [[0.0]], "patches": 1})
