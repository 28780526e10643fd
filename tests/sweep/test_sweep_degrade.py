"""How references become inputs: modcrop, the standard bicubic downscale, the seeded realistic pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from hdcore.sweep import degrade
from hdcore.sweep.imresize import imresize, to_uint8
from hdcore.sweep.niqe_fit import sample_photo
from hdcore.sweep.scores import psnr_y


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return degrade.modcrop(sample_photo("astronaut")[:180, :240], 12)  # a multiple of 2, 3 and 4


def test_modcrop_cuts_the_bottom_and_right_to_a_multiple_of_the_scale():
    image = np.arange(10 * 7 * 3).reshape(10, 7, 3)
    cut = degrade.modcrop(image, 4)
    assert cut.shape == (8, 4, 3) and (cut == image[:8, :4]).all()
    with pytest.raises(ValueError, match="smaller than 4 px"):
        degrade.modcrop(image[:3], 4)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_bicubic_degradation_is_matlabs_imresize_by_one_over_the_scale_in_8_bits(reference, scale):
    low_res = degrade.degrade(reference, scale, "bicubic")
    assert low_res.dtype == np.uint8 and low_res.shape == (180 // scale, 240 // scale, 3)
    assert (low_res == to_uint8(imresize(reference, 1 / scale))).all()


def test_bicubic_down_and_up_loses_more_at_each_larger_scale(reference):
    # The published pattern (Set5: 33.66 / 30.39 / 28.42 dB at 2x / 3x / 4x): strictly worse as the scale grows.
    figures = [psnr_y(degrade.bicubic_upscale(degrade.bicubic_downscale(reference, s), s), reference, s)
               for s in (2, 3, 4)]
    assert figures == sorted(figures, reverse=True) and figures[0] - figures[2] > 3


def test_the_realistic_degradation_is_reproducible_per_image_scale_and_seed(reference):
    first = degrade.degrade(reference, 4, "realistic", seed=0)
    assert first.shape == (45, 60, 3) and first.dtype == np.uint8
    assert (degrade.degrade(reference.copy(), 4, "realistic", seed=0) == first).all()
    assert not (degrade.degrade(reference, 4, "realistic", seed=1) == first).all()
    other = degrade.modcrop(sample_photo("coffee")[:180, :240], 12)
    assert degrade.image_seed(other, 4, 0) != degrade.image_seed(reference, 4, 0) != degrade.image_seed(reference, 2, 0)


def test_the_realistic_degradation_is_harsher_than_bicubic(reference):
    def restored(kind: str, seed: int) -> float:
        low_res = degrade.degrade(reference, 2, kind, seed)
        return psnr_y(degrade.bicubic_upscale(low_res, 2), reference, 2)

    bicubic = restored("bicubic", 0)
    realistic = [restored("realistic", seed) for seed in range(4)]
    assert max(realistic) < bicubic and np.mean(realistic) < bicubic - 2


def test_random_kernels_are_normalised_point_symmetric_and_sometimes_anisotropic():
    rng = np.random.default_rng(5)
    stage = degrade.StageSettings(isotropic_probability=0.5)
    kernels = [degrade.gaussian_kernel(rng, stage) for _ in range(20)]
    for kernel in kernels:
        assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
        assert kernel.sum() == pytest.approx(1.0) and np.allclose(kernel, kernel[::-1, ::-1])
    assert any(not np.allclose(k, k.T) for k in kernels) and any(np.allclose(k, k.T) for k in kernels)


def test_blur_keeps_a_constant_image_and_a_delta_kernel_keeps_any_image(reference):
    image = reference.astype(np.float64) / 255
    delta = np.zeros((7, 7))
    delta[3, 3] = 1
    np.testing.assert_allclose(degrade.blur(image, delta), image, atol=1e-9)
    flat = np.full((30, 40, 3), 0.3)
    kernel = degrade.gaussian_kernel(np.random.default_rng(0), degrade.StageSettings())
    np.testing.assert_allclose(degrade.blur(flat, kernel), 0.3, atol=1e-9)


def test_an_unknown_degradation_is_refused(reference):
    with pytest.raises(ValueError, match="unknown degradation 'jpeg'"):
        degrade.degrade(reference, 2, "jpeg")
