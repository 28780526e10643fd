"""What both runtimes share: padding for the net, the exact output, and tiling advice rounded to the grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from hdcore.errors import ConfigError
from hdcore.providers.local.families import Padding
from hdcore.providers.local.runtimes import choose_runtime, finish_output, pad_input, tiler_for


@dataclass(frozen=True)
class Net:
    padding: Padding
    tile: int
    tile_pad: int


def test_input_is_reflected_by_the_border_and_up_to_the_size_multiple():
    image = np.random.default_rng(0).random((5, 6, 3), dtype=np.float32)
    chw = pad_input(image, Padding(border=2, multiple=4))
    assert chw.shape == (3, 5 + 3 + 4, 6 + 2 + 4)  # 5 -> 8 and 6 -> 8, then 2 px each side
    np.testing.assert_array_equal(chw[:, 2:7, 2:8], image.transpose(2, 0, 1))
    np.testing.assert_array_equal(chw[:, 1, 2:8], image[1].T)  # reflected, the edge row not repeated
    assert chw.flags.c_contiguous and chw.dtype == np.float32
    assert pad_input(image, Padding()).shape == (3, 5, 6)


def test_output_is_cropped_to_exactly_scale_times_and_clipped():
    image = np.full((3, 4, 3), 0.5, np.float32)
    output = np.full((8, 10, 3), 1.5, np.float32)
    result = finish_output(output, image, Padding(), 2, "net")
    assert result.shape == (6, 8, 3) and result.max() == 1.0


def test_a_residual_net_gets_the_nearest_upscale_added():
    image = np.array([[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]], np.float32)
    result = finish_output(np.zeros((4, 8, 3), np.float32), image, Padding(add_nearest=True), 4, "net")
    np.testing.assert_allclose(result[:, :4], np.broadcast_to(image[0, 0], (4, 4, 3)))
    np.testing.assert_allclose(result[:, 4:], np.broadcast_to(image[0, 1], (4, 4, 3)))


def test_a_short_output_is_an_error_naming_the_sizes():
    with pytest.raises(RuntimeError, match="net: net returned 7x8 for a 4x4 input at 2x"):
        finish_output(np.zeros((8, 7, 3), np.float32), np.zeros((4, 4, 3), np.float32), Padding(), 2, "net")


def test_tiles_and_context_follow_the_net_rounded_up_to_its_grid():
    net = Net(Padding(grid=4), tile=190, tile_pad=18)
    assert (tiler_for(net).tile_size, tiler_for(net).tile_pad) == (192, 20)
    assert tiler_for(net, 61).tile_size == 64
    assert (tiler_for(Net(Padding(), 128, 16)).tile_size, tiler_for(Net(Padding(), 128, 16)).tile_pad) == (128, 16)


@pytest.mark.parametrize("preference,openvino,gpus,expected", [
    ("auto", True, 0, ("openvino", None)),
    ("auto", True, 1, ("ncnn", None)),  # a Vulkan GPU: ncnn runs there
    ("auto", False, 0, ("ncnn", "openvino is not installed: the local models run on ncnn")),
    ("openvino", True, 1, ("openvino", None)),
    ("ncnn", True, 0, ("ncnn", None)),
])
def test_the_runtime_follows_the_preference_the_gpu_and_what_is_installed(preference, openvino, gpus, expected):
    assert choose_runtime(preference, openvino, gpus) == expected


@pytest.mark.parametrize("preference,openvino,reason", [
    ("openvino", False, "set to 'openvino' but openvino is not installed"),
    ("onnx", True, "must be one of auto, openvino, ncnn, not 'onnx'"),
])
def test_an_impossible_runtime_preference_is_a_config_error(preference, openvino, reason):
    with pytest.raises(ConfigError, match=reason):
        choose_runtime(preference, openvino, 0)
