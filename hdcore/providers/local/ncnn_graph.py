"""Reading ncnn's model files (``.param`` text + ``.bin`` weights) into a plain graph description.

The format, as documented in ncnn's wiki ("param and model file structure"):

- ``.param``: the magic ``7767517``; a line ``layer_count blob_count``; then one line per layer:
  ``Type name n_inputs n_outputs inputs... outputs... id=value ...``. A value with ``.`` or ``e`` is a
  float, otherwise an int; an array is written under the key ``-23300 - id`` as ``count,v1,v2,...``.
- ``.bin``: every layer's weights, in layer order, as that layer type loads them. A blob loaded "with a
  tag" (convolution and inner-product weights) starts with a 4-byte storage tag: 0 = raw float32,
  0x01306B47 = float16, 0x000D4B38 = int8 (its scales follow the bias), 0x0002C056 = raw float32, and any
  other non-zero tag = a 256-entry float table followed by one uint8 index per value. Half and byte data
  are padded to a multiple of 4 bytes. Biases, slopes and scales are raw float32 without a tag.

Everything read is checked and bounded: an unknown layer type, a malformed line, a blob used before it is
made, or a ``.bin`` that is short or too long all raise :class:`ModelFileError` with a one-line message
naming the file. Weights come back as float32 numpy arrays (int8 ones dequantized with their scales).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

MAGIC = 7767517
MAX_PARAM_BYTES = 16 << 20  # the largest shipped .param (x4plus) is 160 KB
MAX_LAYERS = 100_000
ARRAY_KEY_BASE = -23300  # an array parameter with id n is written under the key -23300 - n

TAG_FLOAT32 = 0x00000000
TAG_FLOAT16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FLOAT32_SCALED = 0x0002C056

Value = int | float | tuple[int | float, ...]


class ModelFileError(ValueError):
    """A model file is missing, malformed, truncated, or uses something this reader does not support."""


@dataclass(frozen=True)
class Layer:
    """One ncnn layer: its type, blobs, parameters (by ncnn id) and float32 weights (by role)."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: Mapping[int, Value] = field(default_factory=dict)
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)

    def int(self, key: int, default: int = 0) -> int:
        value = self.params.get(key, default)
        if isinstance(value, tuple) or float(value) != int(value):
            raise ModelFileError(f"layer {self.name}: parameter {key} must be a whole number, not {value!r}")
        return int(value)

    def float(self, key: int, default: float = 0.0) -> float:
        value = self.params.get(key, default)
        if isinstance(value, tuple):
            raise ModelFileError(f"layer {self.name}: parameter {key} must be a number, not an array")
        return float(value)

    def array(self, key: int) -> tuple[int | float, ...]:
        value = self.params.get(key, ())
        return value if isinstance(value, tuple) else (value,)


@dataclass(frozen=True)
class Graph:
    """Layers in file order (each one's inputs are made by an earlier layer), with the net's ends."""

    layers: tuple[Layer, ...]
    inputs: tuple[str, ...]  # blobs made by Input layers
    outputs: tuple[str, ...]  # blobs no layer consumes

    def producer(self, blob: str) -> Layer:
        for layer in self.layers:
            if blob in layer.outputs:
                return layer
        raise KeyError(blob)


def load(param_path: os.PathLike | str, bin_path: os.PathLike | str) -> Graph:
    """Parse one model (``.param`` and its ``.bin``); raises ModelFileError with a one-line reason."""
    param_path, bin_path = os.fspath(param_path), os.fspath(bin_path)
    layers = parse_param(_read_text(param_path), os.path.basename(param_path))
    weights = _read_bytes(bin_path)
    reader = _WeightReader(weights, os.path.basename(bin_path))
    loaded = tuple(_with_weights(layer, reader) for layer in layers)
    reader.finish()
    consumed = {blob for layer in loaded for blob in layer.inputs}
    return Graph(
        layers=loaded,
        inputs=tuple(blob for layer in loaded if layer.type == "Input" for blob in layer.outputs),
        outputs=tuple(blob for layer in loaded for blob in layer.outputs if blob not in consumed),
    )


def _read_text(path: str) -> str:
    data = _read_bytes(path, limit=MAX_PARAM_BYTES)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ModelFileError(f"{os.path.basename(path)}: not an ncnn text .param file (non-ASCII bytes)") from None


def _read_bytes(path: str, limit: int | None = None) -> bytes:
    try:
        size = os.path.getsize(path)
        if limit is not None and size > limit:
            raise ModelFileError(f"{os.path.basename(path)}: {size} bytes, more than an ncnn .param may have")
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise ModelFileError(f"cannot read model file {os.path.basename(path)}: {error.strerror}") from error


# --- .param --------------------------------------------------------------------------------------------

def parse_param(text: str, source: str = ".param") -> list[Layer]:
    """The layers of a text ``.param``, checked for shape and blob order (no weights yet)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != str(MAGIC):
        head = lines[0][:20] if lines else "an empty file"
        raise ModelFileError(f"{source}: not an ncnn .param file (magic {MAGIC} expected, found {head!r})")
    try:
        layer_count, blob_count = (int(word) for word in lines[1].split())
    except (IndexError, ValueError):
        raise ModelFileError(f"{source}: line 2 must be 'layer_count blob_count'") from None
    if not 0 < layer_count <= MAX_LAYERS or len(lines) - 2 != layer_count:
        raise ModelFileError(f"{source}: header announces {layer_count} layers, the file has {len(lines) - 2}")
    known: set[str] = set()
    layers = []
    for number, line in enumerate(lines[2:], start=3):
        layer = _parse_layer(line, f"{source} line {number}")
        missing = [blob for blob in layer.inputs if blob not in known]
        if missing:
            raise ModelFileError(f"{source} line {number}: layer {layer.name} uses blob {missing[0]!r} "
                                 "before any layer makes it")
        known.update(layer.outputs)
        layers.append(layer)
    if len(known) != blob_count:
        raise ModelFileError(f"{source}: header announces {blob_count} blobs, the layers make {len(known)}")
    return layers


def _parse_layer(line: str, where: str) -> Layer:
    words = line.split()
    try:
        kind, name, n_in, n_out = words[0], words[1], int(words[2]), int(words[3])
    except (IndexError, ValueError):
        raise ModelFileError(f"{where}: expected 'Type name inputs outputs ...', got {line[:60]!r}") from None
    if kind not in WEIGHTS:
        raise ModelFileError(f"{where}: unsupported ncnn layer type {kind!r} (layer {name})")
    blobs_end = 4 + n_in + n_out
    if n_in < 0 or n_out < 0 or len(words) < blobs_end:
        raise ModelFileError(f"{where}: layer {name} lists fewer blobs than its counts say")
    params = dict(_parse_param_word(word, where) for word in words[blobs_end:])
    return Layer(kind, name, tuple(words[4:4 + n_in]), tuple(words[4 + n_in:blobs_end]), params)


def _parse_param_word(word: str, where: str) -> tuple[int, Value]:
    key_text, equals, value_text = word.partition("=")
    try:
        key = int(key_text)
        if not equals:
            raise ValueError
        if key <= ARRAY_KEY_BASE:
            count, *items = value_text.split(",")
            if int(count) != len(items):
                raise ValueError
            return ARRAY_KEY_BASE - key, tuple(_number(item) for item in items)
        return key, _number(value_text)
    except ValueError:
        raise ModelFileError(f"{where}: malformed parameter {word[:40]!r}") from None


def _number(text: str) -> int | float:
    return float(text) if any(mark in text for mark in ".eE") else int(text)


# --- .bin ----------------------------------------------------------------------------------------------

class _WeightReader:
    """Reads weight blobs from the ``.bin`` bytes in order, never past the end."""

    def __init__(self, data: bytes, source: str):
        self.data = data
        self.source = source
        self.offset = 0
        self.layer = ""

    def take(self, size: int) -> memoryview:
        if size < 0 or self.offset + size > len(self.data):
            raise ModelFileError(f"{self.source}: truncated: layer {self.layer} needs {size} bytes at offset "
                                 f"{self.offset}, the file has {len(self.data)}")
        chunk = memoryview(self.data)[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def raw(self, count: int) -> np.ndarray:
        """``count`` float32 values without a tag (biases, slopes, scales)."""
        return np.frombuffer(self.take(4 * _count(count, self)), dtype="<f4").astype(np.float32)

    def tagged(self, count: int) -> np.ndarray:
        """``count`` values behind a storage tag, as float32 (int8 stays int8: its scales come later)."""
        count = _count(count, self)
        tag = int(np.frombuffer(self.take(4), dtype="<u4")[0])
        if tag == TAG_FLOAT16:
            data = np.frombuffer(self.take(_aligned(2 * count)), dtype="<f2")[:count]
            return data.astype(np.float32)
        if tag == TAG_INT8:
            return np.frombuffer(self.take(_aligned(count)), dtype=np.int8)[:count].copy()
        if tag in (TAG_FLOAT32, TAG_FLOAT32_SCALED):
            return self.raw(count)
        # Any other tag: a 256-entry float table, then one byte index per value.
        table = np.frombuffer(self.take(256 * 4), dtype="<f4")
        indices = np.frombuffer(self.take(_aligned(count)), dtype=np.uint8)[:count]
        return table[indices].astype(np.float32)

    def finish(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise ModelFileError(f"{self.source}: {left} bytes left after the last layer's weights "
                                 "(the .bin does not belong to this .param)")


def _aligned(size: int) -> int:
    return (size + 3) // 4 * 4


def _count(count: int, reader: _WeightReader) -> int:
    if count < 0:
        raise ModelFileError(f"{reader.source}: layer {reader.layer} declares {count} weights")
    return count


def _with_weights(layer: Layer, reader: _WeightReader) -> Layer:
    reader.layer = layer.name
    weights = WEIGHTS[layer.type](layer, reader)
    return Layer(layer.type, layer.name, layer.inputs, layer.outputs, layer.params, weights)


def _convolution_weights(layer: Layer, reader: _WeightReader, size_key: int = 6, bias_key: int = 5,
                         int8: bool = True) -> dict[str, np.ndarray]:
    """Convolution / Deconvolution (weights: param 6, bias flag: 5); InnerProduct passes 2 and 1."""
    outputs = layer.int(0)
    weights = {"weight": reader.tagged(layer.int(size_key))}
    if layer.int(bias_key):
        weights["bias"] = reader.raw(outputs)
    int8_scale_term = layer.int(8) if int8 else 0
    if int8_scale_term:
        # per-output weight scales, then the activation scales (unused: the graph computes in float)
        scales = reader.raw(outputs)
        reader.raw(2 if int8_scale_term > 100 else 1)
        if weights["weight"].dtype != np.int8:
            raise ModelFileError(f"{reader.source}: layer {layer.name} has int8 scales but float weights")
        per_output = weights["weight"].astype(np.float32).reshape(outputs, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            weights["weight"] = np.where(scales[:, None] == 0, 0.0, per_output / scales[:, None]).ravel()
    elif weights["weight"].dtype == np.int8:
        raise ModelFileError(f"{reader.source}: layer {layer.name} has int8 weights but no scales")
    return weights


def _inner_product_weights(layer: Layer, reader: _WeightReader) -> dict[str, np.ndarray]:
    return _convolution_weights(layer, reader, size_key=2, bias_key=1)


def _deconvolution_weights(layer: Layer, reader: _WeightReader) -> dict[str, np.ndarray]:
    return _convolution_weights(layer, reader, int8=False)  # ncnn's Deconvolution has no int8 form


def _prelu_weights(layer: Layer, reader: _WeightReader) -> dict[str, np.ndarray]:
    return {"slope": reader.raw(layer.int(0))}


def _scale_weights(layer: Layer, reader: _WeightReader) -> dict[str, np.ndarray]:
    size = layer.int(0)
    if size == -233:  # the scale comes from the second input blob
        return {}
    weights = {"scale": reader.raw(size)}
    if layer.int(1):
        weights["bias"] = reader.raw(size)
    return weights


def _no_weights(layer: Layer, reader: _WeightReader) -> dict[str, np.ndarray]:
    return {}


# The layer types this reader knows, each with what it loads from the .bin (in ncnn's own order). These are
# all the types the shipped Real-ESRGAN, Real-CUGAN and waifu2x models use.
WEIGHTS: dict[str, Callable[[Layer, _WeightReader], dict[str, np.ndarray]]] = {
    "Input": _no_weights, "Split": _no_weights, "Concat": _no_weights, "Eltwise": _no_weights,
    "BinaryOp": _no_weights, "Interp": _no_weights, "PixelShuffle": _no_weights, "Pooling": _no_weights,
    "Crop": _no_weights, "Convolution": _convolution_weights, "Deconvolution": _deconvolution_weights,
    "InnerProduct": _inner_product_weights, "PReLU": _prelu_weights, "Scale": _scale_weights,
}
