"""Reading ncnn .param/.bin files: every shipped model, every weight storage tag, and broken files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hdcore.providers.local import ncnn_graph
from hdcore.providers.local.families import MODELS
from hdcore.providers.local.ncnn_graph import ModelFileError

EVERY_VARIANT = [(spec.name, scale, level) for spec in MODELS.values()
                 for scale, levels in spec.variants.items() for level in levels]

TINY_PARAM = """7767517
3 3
Input            input    0 1 data 0=8 1=8 2=2
Convolution      conv     1 1 data conv 0=3 1=1 5=1 6=6 9=2 -23310=1,1.000000e-01
PReLU            prelu    1 1 conv out 0=3
"""
WEIGHTS = np.array([0.5, -1.25, 2.0, 0.75, -0.5, 1.5], np.float32)
BIAS = np.array([0.1, 0.2, 0.3], np.float32)
SLOPE = np.array([0.25, 0.5, 1.0], np.float32)


def write_model(folder, param: str, weights: bytes, name: str = "tiny"):
    param_path, bin_path = folder / f"{name}.param", folder / f"{name}.bin"
    param_path.write_text(param)
    bin_path.write_bytes(weights)
    return param_path, bin_path


def tagged(tag: int, payload: bytes) -> bytes:
    return np.array([tag], "<u4").tobytes() + payload


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def tail() -> bytes:
    return BIAS.tobytes() + SLOPE.tobytes()


@pytest.mark.parametrize("name,scale,level", EVERY_VARIANT)
def test_every_shipped_model_file_is_read_whole_with_its_blobs(name, scale, level):
    spec = MODELS[name]
    graph = ncnn_graph.load(*spec.files(scale, level))  # raises if any byte of the .bin were left over
    assert graph.inputs == (spec.input_blob,)
    assert graph.outputs == (spec.output_blob,)
    for blob in spec.sync_blobs:
        assert graph.producer(blob).type == "Pooling"
    convolutions = [layer for layer in graph.layers if layer.type == "Convolution"]
    assert convolutions and all(layer.weights["weight"].size == layer.int(6) for layer in convolutions)
    assert all(np.isfinite(layer.weights["weight"]).all() for layer in convolutions)


def test_parameters_keep_ints_floats_and_arrays_apart(tmp_path):
    graph = ncnn_graph.load(*write_model(tmp_path, TINY_PARAM, tagged(0, WEIGHTS.tobytes()) + tail()))
    conv = graph.layers[1]
    assert conv.params[0] == 3 and isinstance(conv.params[0], int)
    assert conv.array(10) == (0.1,)  # written under the key -23310
    assert conv.int(11, conv.int(1)) == 1  # absent: the default
    assert graph.inputs == ("data",) and graph.outputs == ("out",)


def test_float32_weights_are_read_as_stored(tmp_path):
    graph = ncnn_graph.load(*write_model(tmp_path, TINY_PARAM, tagged(0, WEIGHTS.tobytes()) + tail()))
    conv, prelu = graph.layers[1], graph.layers[2]
    np.testing.assert_array_equal(conv.weights["weight"], WEIGHTS)
    np.testing.assert_array_equal(conv.weights["bias"], BIAS)
    np.testing.assert_array_equal(prelu.weights["slope"], SLOPE)


def test_float16_weights_are_widened_and_their_padding_skipped(tmp_path):
    half = WEIGHTS.astype("<f2").tobytes()  # 12 bytes: already a multiple of 4
    five = WEIGHTS[:5]
    param = TINY_PARAM.replace("6=6", "6=5").replace("0=3 1=1", "0=5 1=1").replace("2=2", "2=1") \
        .replace("PReLU            prelu    1 1 conv out 0=3", "PReLU            prelu    1 1 conv out 0=5")
    graph = ncnn_graph.load(*write_model(tmp_path, TINY_PARAM, tagged(ncnn_graph.TAG_FLOAT16, half) + tail()))
    np.testing.assert_array_equal(graph.layers[1].weights["weight"], WEIGHTS)  # all exact in float16
    odd = tagged(ncnn_graph.TAG_FLOAT16, padded(five.astype("<f2").tobytes())) + np.ones(10, "<f4").tobytes()
    graph = ncnn_graph.load(*write_model(tmp_path, param, odd, "odd"))
    np.testing.assert_array_equal(graph.layers[1].weights["weight"], five)
    np.testing.assert_array_equal(graph.layers[2].weights["slope"], np.ones(5))


def test_int8_weights_are_dequantized_with_their_per_output_scales(tmp_path):
    param = TINY_PARAM.replace("9=2", "8=1 9=2")
    codes = np.array([10, -20, 30, 40, -50, 60], np.int8)
    scales = np.array([10.0, 20.0, 40.0], np.float32)
    weights = tagged(ncnn_graph.TAG_INT8, padded(codes.tobytes())) + BIAS.tobytes() + scales.tobytes() \
        + np.array([1.0], np.float32).tobytes() + SLOPE.tobytes()
    graph = ncnn_graph.load(*write_model(tmp_path, param, weights))
    expected = codes.reshape(3, 2) / scales[:, None]
    np.testing.assert_allclose(graph.layers[1].weights["weight"], expected.ravel(), rtol=1e-6)


def test_table_quantized_weights_are_looked_up(tmp_path):
    table = np.linspace(-1, 1, 256, dtype=np.float32)
    indices = np.array([0, 255, 128, 7, 64, 200], np.uint8)
    weights = tagged(0x12345678, table.tobytes() + padded(indices.tobytes())) + tail()
    graph = ncnn_graph.load(*write_model(tmp_path, TINY_PARAM, weights))
    np.testing.assert_array_equal(graph.layers[1].weights["weight"], table[indices])


def one_line_error(*paths) -> str:
    with pytest.raises(ModelFileError) as caught:
        ncnn_graph.load(*paths)
    message = str(caught.value)
    assert "\n" not in message and message
    return message


def test_a_truncated_bin_names_the_layer_and_the_offset(tmp_path):
    spec = MODELS["waifu2x-photo"]
    param, weights = spec.files(2, -1)
    data = weights.read_bytes()
    short = tmp_path / "short.bin"
    short.write_bytes(data[: len(data) // 2])
    message = one_line_error(param, short)
    assert "short.bin" in message and "truncated" in message and "conv" in message


def test_a_bin_with_bytes_to_spare_does_not_belong_to_the_param(tmp_path):
    spec = MODELS["waifu2x-photo"]
    param, weights = spec.files(2, -1)
    longer = tmp_path / "longer.bin"
    longer.write_bytes(weights.read_bytes() + b"\0" * 8)
    assert "8 bytes left" in one_line_error(param, longer)


def test_an_unknown_layer_type_is_named(tmp_path):
    spec = MODELS["waifu2x-photo"]
    param, weights = spec.files(2, -1)
    strange = tmp_path / "strange.param"
    strange.write_text(param.read_text().replace("Deconvolution ", "Teleport      ", 1))
    shutil.copy(weights, tmp_path / "strange.bin")
    message = one_line_error(strange, tmp_path / "strange.bin")
    assert "'Teleport'" in message and "conv7_layer" in message


def test_a_wrong_magic_is_not_an_ncnn_param(tmp_path):
    path = tmp_path / "model.param"
    path.write_text(TINY_PARAM.replace("7767517", "7767518"))
    (tmp_path / "model.bin").write_bytes(b"")
    assert "magic 7767517" in one_line_error(path, tmp_path / "model.bin")


@pytest.mark.parametrize("broken,reason", [
    (TINY_PARAM.replace("3 3\n", "4 3\n"), "announces 4 layers"),
    (TINY_PARAM.replace("3 3\n", "3 5\n"), "announces 5 blobs"),
    (TINY_PARAM.replace("1 1 conv out", "1 1 cnov out"), "uses blob 'cnov' before"),
    (TINY_PARAM.replace("0=3 1=1", "0=x 1=1"), "malformed parameter '0=x'"),
    (TINY_PARAM.replace("-23310=1,", "-23310=2,"), "malformed parameter"),
    (TINY_PARAM.replace("1 1 conv out", "1 3 conv out"), "fewer blobs"),
    ("", "found 'an empty file'"),
    ("7767517\n", "line 2"),
])
def test_a_malformed_param_gets_a_one_line_reason(tmp_path, broken, reason):
    param, weights = write_model(tmp_path, broken, tagged(0, WEIGHTS.tobytes()) + tail())
    assert reason in one_line_error(param, weights)


def test_a_missing_or_binary_file_is_a_model_file_error(tmp_path):
    assert "cannot read model file nothing.param" in one_line_error(tmp_path / "nothing.param", tmp_path / "x.bin")
    binary = tmp_path / "binary.param"
    binary.write_bytes(b"\x89PNG\xff\xfe")
    assert "non-ASCII" in one_line_error(binary, tmp_path / "x.bin")
