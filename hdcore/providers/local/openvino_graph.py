"""Building an OpenVINO model, in code, from an ncnn graph (:mod:`hdcore.providers.local.ncnn_graph`).

Each ncnn layer type becomes a few opset-13 operations with ncnn's semantics. Feature maps are NCHW with a
batch of one; ncnn's 1-D blobs (a global average, an inner product's output) are kept as [1, C, 1, 1], so
that they broadcast over a feature map per channel exactly as ncnn's BinaryOp / Scale do. Weights are
float32 constants; ncnn's weight layouts are [out, in, kh, kw] for both Convolution and Deconvolution,
while OpenVINO's transposed convolution wants [in, out, kh, kw].

:func:`build_model` can also cut a graph open at named blobs: ``fed`` blobs become inputs (the shared
squeeze-excitation averages of a tiled image), and any blobs can be outputs (those averages, per tile).
A layer type or parameter this module does not translate raises ModelFileError naming it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from .ncnn_graph import Graph, Layer, ModelFileError

Output = ov.Output
Translate = Callable[[Layer, list[Output]], list[Output]]


def build_model(graph: Graph, outputs: Sequence[str], fed: Sequence[str] = (),
                size: tuple[int, int] | None = None) -> ov.Model:
    """The model from the graph's (single) input to ``outputs``; ``fed`` blobs become extra inputs.

    ``size``: a static (height, width) for the image input; None keeps both dimensions dynamic.
    Inputs are named as ncnn's blobs; an image is [1, 3, H, W], a fed blob is a vector [C].
    """
    if len(graph.inputs) != 1:
        raise ModelFileError(f"expected a net with one input blob, this one has {len(graph.inputs)}")
    height, width = size or (-1, -1)
    image = ops.parameter([1, 3, height, width], np.float32, name=graph.inputs[0])
    parameters = [image]
    values: dict[str, Output] = {graph.inputs[0]: image.output(0)}
    wanted = set(outputs) | set(fed)
    for layer in graph.layers:
        if layer.type == "Input":
            continue
        if any(blob in fed for blob in layer.outputs):
            parameters += _feed(layer, values, fed)
            continue
        results = TRANSLATE[layer.type](layer, [values[blob] for blob in layer.inputs])
        values.update(zip(layer.outputs, results))
    missing = sorted(wanted - set(values))
    if missing:
        raise ModelFileError(f"the net has no blob named {missing[0]!r}")
    return ov.Model([ops.result(values[name], name=name) for name in outputs], parameters, "ncnn-graph")


def _feed(layer: Layer, values: dict[str, Output], fed: Sequence[str]) -> list[ov.Node]:
    """Replace a global pooling's output by an input vector of the same length."""
    if layer.type != "Pooling" or len(layer.outputs) != 1:
        raise ModelFileError(f"only a global pooling's output can be fed, not layer {layer.name} ({layer.type})")
    channels = _channels(values[layer.inputs[0]], layer)
    parameter = ops.parameter([channels], np.float32, name=layer.outputs[0])
    values[layer.outputs[0]] = ops.reshape(parameter, _const([1, channels, 1, 1], np.int64), False).output(0)
    return [parameter]


def _const(value, dtype=np.float32) -> Output:
    return ops.constant(np.asarray(value, dtype=dtype)).output(0)


def _channels(value: Output, layer: Layer) -> int:
    dimension = value.get_partial_shape()[1]
    if not dimension.is_static:
        raise ModelFileError(f"layer {layer.name}: its input's channel count is not known")
    return dimension.get_length()


def _axis(layer: Layer, ncnn_axis: int) -> int:
    """An ncnn axis of a 3-D blob (0 = channels, 1 = height, 2 = width; negatives from the end) in NCHW."""
    if not -3 <= ncnn_axis <= 2:
        raise ModelFileError(f"layer {layer.name}: axis {ncnn_axis} is outside a 3-D blob")
    return ncnn_axis % 3 + 1


# --- activations and convolutions ----------------------------------------------------------------------

def _activate(value: Output, layer: Layer) -> Output:
    """ncnn's fused activation (parameter 9, its arguments in array 10)."""
    kind, arguments = layer.int(9), layer.array(10)

    def argument(index: int, default: float) -> float:
        return float(arguments[index]) if len(arguments) > index else default

    if kind == 0:
        return value
    if kind == 1:
        return ops.relu(value).output(0)
    if kind == 2:
        return ops.prelu(value, _const([argument(0, 0.0)])).output(0)
    if kind == 3:
        return ops.clamp(value, argument(0, 0.0), argument(1, 0.0)).output(0)
    if kind == 4:
        return ops.sigmoid(value).output(0)
    if kind == 5:
        return ops.mish(value).output(0)
    if kind == 6:  # hard-swish: x * clip(alpha * x + beta, 0, 1)
        gate = ops.clamp(ops.add(ops.multiply(value, _const(argument(0, 0.2))), _const(argument(1, 0.5))), 0.0, 1.0)
        return ops.multiply(value, gate).output(0)
    raise ModelFileError(f"layer {layer.name}: unsupported activation type {kind}")


def _window(layer: Layer) -> dict[str, int]:
    """Kernel, dilation, stride and padding parameters shared by Convolution and Deconvolution."""
    kernel_w = layer.int(1)
    pad_left = layer.int(4)
    window = {"outputs": layer.int(0), "kernel_w": kernel_w, "kernel_h": layer.int(11, kernel_w),
              "dilation_w": layer.int(2, 1), "stride_w": layer.int(3, 1), "pad_left": pad_left,
              "pad_top": layer.int(14, pad_left)}
    window.update(dilation_h=layer.int(12, window["dilation_w"]), stride_h=layer.int(13, window["stride_w"]),
                  pad_right=layer.int(15, pad_left), pad_bottom=layer.int(16, window["pad_top"]))
    if min(window.values()) < 0:
        raise ModelFileError(f"layer {layer.name}: automatic ('same') padding is not supported")
    if min(window["outputs"], window["kernel_w"], window["kernel_h"]) < 1:
        raise ModelFileError(f"layer {layer.name}: output count and kernel size must be positive")
    return window


def _kernel(layer: Layer, window: dict[str, int], inputs: int) -> np.ndarray:
    """The weights as ncnn stores them, [out, in, kh, kw], checked against the input's channel count."""
    weight = layer.weights["weight"]
    shape = (window["outputs"], inputs, window["kernel_h"], window["kernel_w"])
    if weight.size != int(np.prod(shape)):
        raise ModelFileError(f"layer {layer.name}: {weight.size} weights do not fit {inputs} input channels "
                             f"and {window['outputs']} outputs of {window['kernel_h']}x{window['kernel_w']}")
    return weight.reshape(shape)


def _with_bias(value: Output, layer: Layer) -> Output:
    if "bias" not in layer.weights:
        return value
    return ops.add(value, _const(layer.weights["bias"].reshape(1, -1, 1, 1))).output(0)


def _convolution(layer: Layer, inputs: list[Output]) -> list[Output]:
    window = _window(layer)
    if layer.float(18) != 0.0:
        raise ModelFileError(f"layer {layer.name}: a non-zero pad value is not supported")
    kernel = _kernel(layer, window, _channels(inputs[0], layer))
    value = ops.convolution(inputs[0], _const(kernel), [window["stride_h"], window["stride_w"]],
                            [window["pad_top"], window["pad_left"]], [window["pad_bottom"], window["pad_right"]],
                            [window["dilation_h"], window["dilation_w"]]).output(0)
    return [_activate(_with_bias(value, layer), layer)]


def _deconvolution(layer: Layer, inputs: list[Output]) -> list[Output]:
    window = _window(layer)
    if layer.int(20) or layer.int(21):
        raise ModelFileError(f"layer {layer.name}: a fixed deconvolution output size is not supported")
    kernel = _kernel(layer, window, _channels(inputs[0], layer)).transpose(1, 0, 2, 3)
    value = ops.convolution_backprop_data(
        inputs[0], _const(np.ascontiguousarray(kernel)), [window["stride_h"], window["stride_w"]],
        pads_begin=[window["pad_top"], window["pad_left"]], pads_end=[window["pad_bottom"], window["pad_right"]],
        dilations=[window["dilation_h"], window["dilation_w"]],
        output_padding=[layer.int(19, layer.int(18)), layer.int(18)]).output(0)
    return [_activate(_with_bias(value, layer), layer)]


def _inner_product(layer: Layer, inputs: list[Output]) -> list[Output]:
    """On a vector [1, C, 1, 1]: a 1x1 convolution with the [out, C] weights."""
    shape = inputs[0].get_partial_shape()
    if shape.rank.get_length() != 4 or not (shape[2].is_static and shape[3].is_static) \
            or shape[2].get_length() * shape[3].get_length() != 1:
        raise ModelFileError(f"layer {layer.name}: an inner product is only supported on a vector")
    channels, outputs = _channels(inputs[0], layer), layer.int(0)
    weight = layer.weights["weight"]
    if outputs < 1 or weight.size != outputs * channels:
        raise ModelFileError(f"layer {layer.name}: {weight.size} weights do not fit {channels} inputs "
                             f"and {outputs} outputs")
    value = ops.convolution(inputs[0], _const(weight.reshape(outputs, channels, 1, 1)), [1, 1], [0, 0], [0, 0],
                            [1, 1]).output(0)
    return [_activate(_with_bias(value, layer), layer)]


# --- element-wise, shape and resampling layers ---------------------------------------------------------

BINARY: dict[int, Callable[[Output, Output], ov.Node]] = {
    0: ops.add, 1: ops.subtract, 2: ops.multiply, 3: ops.divide, 4: ops.maximum, 5: ops.minimum,
    6: ops.power, 7: lambda a, b: ops.subtract(b, a), 8: lambda a, b: ops.divide(b, a),
}


def _binary_op(layer: Layer, inputs: list[Output]) -> list[Output]:
    operation = BINARY.get(layer.int(0))
    if operation is None:
        raise ModelFileError(f"layer {layer.name}: unsupported BinaryOp operation {layer.int(0)}")
    if layer.int(1):  # with a scalar: parameter 2
        return [operation(inputs[0], _const(layer.float(2))).output(0)]
    if len(inputs) != 2:
        raise ModelFileError(f"layer {layer.name}: BinaryOp needs two inputs or a scalar")
    return [operation(inputs[0], inputs[1]).output(0)]


def _eltwise(layer: Layer, inputs: list[Output]) -> list[Output]:
    kind, coefficients = layer.int(0), layer.array(1)
    if kind == 1:  # sum, optionally weighted
        if coefficients and len(coefficients) != len(inputs):
            raise ModelFileError(f"layer {layer.name}: {len(coefficients)} coefficients for {len(inputs)} inputs")
        terms = [value if not coefficients or coefficients[i] == 1 else
                 ops.multiply(value, _const(coefficients[i])).output(0) for i, value in enumerate(inputs)]
    elif kind in (0, 2):
        terms = list(inputs)
    else:
        raise ModelFileError(f"layer {layer.name}: unsupported Eltwise operation {kind}")
    combine = {0: ops.multiply, 1: ops.add, 2: ops.maximum}[kind]
    value = terms[0]
    for term in terms[1:]:
        value = combine(value, term).output(0)
    return [value]


def _scale(layer: Layer, inputs: list[Output]) -> list[Output]:
    if layer.int(0) == -233:
        if len(inputs) != 2:
            raise ModelFileError(f"layer {layer.name}: Scale without weights needs a second input")
        return [ops.multiply(inputs[0], inputs[1]).output(0)]
    value = ops.multiply(inputs[0], _const(layer.weights["scale"].reshape(1, -1, 1, 1))).output(0)
    return [_with_bias(value, layer)]


def _prelu(layer: Layer, inputs: list[Output]) -> list[Output]:
    return [ops.prelu(inputs[0], _const(layer.weights["slope"])).output(0)]


def _pooling(layer: Layer, inputs: list[Output]) -> list[Output]:
    if not layer.int(4):
        raise ModelFileError(f"layer {layer.name}: only global pooling is supported")
    reduce = {0: ops.reduce_max, 1: ops.reduce_mean}.get(layer.int(0))
    if reduce is None:
        raise ModelFileError(f"layer {layer.name}: unsupported pooling type {layer.int(0)}")
    return [reduce(inputs[0], _const([2, 3], np.int64), True).output(0)]


def _concat(layer: Layer, inputs: list[Output]) -> list[Output]:
    return [ops.concat(inputs, _axis(layer, layer.int(0))).output(0)]


def _split(layer: Layer, inputs: list[Output]) -> list[Output]:
    return [inputs[0]] * len(layer.outputs)


def _crop(layer: Layer, inputs: list[Output]) -> list[Output]:
    """Either to a reference blob's height and width at (hoffset, woffset), or by starts/ends/axes arrays."""
    if len(inputs) == 2:
        if layer.int(2) or _channels(inputs[0], layer) != _channels(inputs[1], layer):
            raise ModelFileError(f"layer {layer.name}: cropping channels to a reference is not supported")
        start = _const([layer.int(1), layer.int(0)], np.int64)
        size = ops.gather(ops.shape_of(inputs[1]), _const([2, 3], np.int64), _const(0, np.int64))
        return [ops.slice(inputs[0], start, ops.add(start, size), _const([1, 1], np.int64),
                          _const([2, 3], np.int64)).output(0)]
    starts, ends, axes = layer.array(9), layer.array(10), layer.array(11)
    if not starts or len(starts) != len(ends) or len(axes) not in (0, len(starts)):
        raise ModelFileError(f"layer {layer.name}: only a Crop by starts/ends/axes arrays is supported")
    axes = axes or tuple(range(len(starts)))
    stops = [np.iinfo(np.int64).max if end == -233 else end for end in ends]  # -233: to the end
    return [ops.slice(inputs[0], _const(starts, np.int64), _const(stops, np.int64),
                      _const([1] * len(starts), np.int64),
                      _const([_axis(layer, int(axis)) for axis in axes], np.int64)).output(0)]


INTERPOLATION = {1: "nearest", 2: "linear_onnx", 3: "cubic"}


def _interp(layer: Layer, inputs: list[Output]) -> list[Output]:
    """Resize by factors: nearest is ncnn's floor(x / factor); linear and cubic use half-pixel centres,
    clamped at the edges, cubic with A = -0.75 (ncnn's coefficients)."""
    mode = INTERPOLATION.get(layer.int(0))
    if mode is None or layer.int(3) or layer.int(4) or layer.int(5) or layer.int(6):
        raise ModelFileError(f"layer {layer.name}: only Interp by scale factors (nearest, bilinear, bicubic, "
                             "without align_corner) is supported")
    factors = [layer.float(1, 1.0), layer.float(2, 1.0)]
    nearest = mode == "nearest"
    value = ops.interpolate(inputs[0], _const(factors), mode, "scales",
                            coordinate_transformation_mode="asymmetric" if nearest else "half_pixel",
                            nearest_mode="floor", cube_coeff=-0.75, axes=_const([2, 3], np.int64))
    return [value.output(0)]


def _pixel_shuffle(layer: Layer, inputs: list[Output]) -> list[Output]:
    mode = {0: "depth_first", 1: "blocks_first"}.get(layer.int(1))
    if mode is None or layer.int(0) < 1:
        raise ModelFileError(f"layer {layer.name}: unsupported PixelShuffle parameters")
    return [ops.depth_to_space(inputs[0], mode, layer.int(0)).output(0)]


# Every layer type hdcore.providers.local.ncnn_graph reads, except Input (the model's parameter).
TRANSLATE: dict[str, Translate] = {
    "Convolution": _convolution, "Deconvolution": _deconvolution, "InnerProduct": _inner_product,
    "BinaryOp": _binary_op, "Eltwise": _eltwise, "Scale": _scale, "PReLU": _prelu, "Pooling": _pooling,
    "Concat": _concat, "Split": _split, "Crop": _crop, "Interp": _interp, "PixelShuffle": _pixel_shuffle,
}
