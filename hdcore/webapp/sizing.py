"""The output size the Enhance and Batch pages offer, and where it lands for an upload before anything runs.

Three ways to ask, the same three ``Engine.enhance`` takes (``hdcore.engine.target``): a factor (the tiers'
native scales, or any from 1.1 to 8), a width and/or height ("fit within", or "fill and crop" to exactly that
box), or a longest side. The chain reaches any of them itself (the smallest native scale at or above the need,
then one exact resize); the page shows the size it will deliver and says when a request cannot be met.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .. import images
from ..batch import size_label
from ..engine.target import MAX_FACTOR, MIN_FACTOR, Target, resolve
from ..errors import HDCoreError
from ..text import one_line

SIZE_WAYS = ("factor", "box", "longest")
SIZE_WAY_LABELS = {"factor": "Factor", "box": "Width and/or height", "longest": "Longest side"}
FIT_CHOICES = ("within", "fill")
FIT_LABELS = {"within": "Fit within", "fill": "Fill and crop"}
FIT_HELP = "Fit within: the whole image, no side over the box. Fill and crop: exactly the box, its centre kept."
CUSTOM_FACTOR = "custom"  # the factor choice that opens a number box
DEFAULT_CUSTOM_FACTOR = 2.5
FACTOR_STEP = 0.1
FACTOR_RANGE = (MIN_FACTOR, MAX_FACTOR)
MAX_TARGET_SIDE = 65_535  # a number box's upper bound; the output pixel limit refuses far less
DEFAULT_WIDTH = 3840  # a 4K UHD screen's width: the box a width starts from


def factor_options(scales: Sequence[int]) -> list[Any]:
    """The factor choices: the native scales the tiers declare, then "custom" (any factor, 1.1 to 8)."""
    return [*scales, CUSTOM_FACTOR]


def factor_label(choice: Any) -> str:
    return "Custom…" if choice == CUSTOM_FACTOR else f"{choice}×"


@dataclass(frozen=True)
class OutputSize:
    """One way of asking for a size, as ``Engine.enhance`` and ``batch.BatchSettings`` spell it."""

    scale: float = 4
    width: int | None = None
    height: int | None = None
    longest_side: int | None = None
    fit: str = "within"
    missing: str = ""  # what the widgets left out ("enter a width, a height or both"); nothing runs until given

    @property
    def keywords(self) -> dict[str, Any]:
        """The size keywords of ``Engine.enhance`` (and fields of ``BatchSettings``)."""
        return {"scale": self.scale, "width": self.width, "height": self.height,
                "longest_side": self.longest_side, "fit": self.fit}  # fmt: skip

    @property
    def label(self) -> str:
        """How an output's file name says its size: "x4", "x2.5", "w3840", "1920x1080", "long2000"."""
        return size_label(self.scale, self.width, self.height, self.longest_side)

    @property
    def is_box(self) -> bool:
        return self.width is not None or self.height is not None

    def target(self, source: tuple[int, int]) -> Target:
        """Where a source of (width, height) lands; ``InvalidInput`` with a one-line reason when it cannot."""
        return resolve(source, self.scale, self.width, self.height, self.longest_side, self.fit)

    def native_scale(self, source: tuple[int, int] | None = None) -> int:
        """The native scale of the first pass: what picks each tier's model, and so the options it reads.
        Without the upload's size (or for a size it cannot reach), a width or longest side counts as 4x."""
        if source is None and (self.is_box or self.longest_side is not None):
            return 4
        try:
            return self.target(source or (1000, 1000)).passes[0]
        except HDCoreError:
            return 4


def chosen_size(way: str, values: Mapping[str, Any]) -> OutputSize:
    """The size the page's widgets chose: ``values`` holds "factor" (a native scale or CUSTOM_FACTOR), "custom",
    "width", "height", "fit" and "longest_side", as far as ``way`` shows them (None where left empty)."""
    if way == "box":
        width, height = _whole(values.get("width")), _whole(values.get("height"))
        if width is None and height is None:
            return OutputSize(missing="enter a width, a height or both")
        fit = values.get("fit") if width is not None and height is not None else "within"
        return OutputSize(width=width, height=height, fit=fit if fit in FIT_CHOICES else "within")
    if way == "longest":
        longest = _whole(values.get("longest_side"))
        return OutputSize(longest_side=longest) if longest is not None else OutputSize(missing="enter the longest side")
    factor = values.get("factor")
    return OutputSize(scale=float(values.get("custom") or DEFAULT_CUSTOM_FACTOR) if factor == CUSTOM_FACTOR
                      else float(factor or 4))  # fmt: skip


def _whole(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass(frozen=True)
class SizePreview:
    """What the page says about the size before a run: the line to show, the output size, or why it cannot be."""

    text: str
    output: tuple[int, int] | None = None
    error: str = ""


def preview_size(size: OutputSize, source: tuple[int, int] | None, max_output_pixels: int) -> SizePreview:
    """The output the chain will deliver for ``source`` (or, before an upload, what was asked), held to the
    output pixel limit at every pass as the engine holds it."""
    if size.missing:
        return SizePreview("", error=size.missing)
    if source is None:
        return SizePreview(_asked(size))
    try:
        target = size.target(source)
        reached = source
        for native in target.passes:
            reached = images.check_output_size(reached, native, max_output_pixels)
        images.check_output_size(target.resized, 1, max_output_pixels)
    except HDCoreError as error:
        return SizePreview("", error=one_line(str(error)))
    width, height = target.size
    return SizePreview(f"{source[0]} × {source[1]} → {width} × {height} px · {how_reached(target)}", target.size)


def how_reached(target: Target) -> str:
    """ "4×, the models' own scale", "3.84×: 4×, then resized", "4.5×: 4× then 2×, then resized, centre cropped"."""
    if target.is_native:
        return f"{target.passes[0]}×, the models' own scale"
    steps = " then ".join(f"{native}×" for native in target.passes)
    crop = ", centre cropped" if target.crop is not None else ""
    return f"{target.factor:.3g}×: {steps}, then resized{crop}"


def _asked(size: OutputSize) -> str:
    """The request in words, before the upload's size is known."""
    if size.width is not None and size.height is not None:
        shape = "exactly, the centre cropped" if size.fit == "fill" else "at most, the aspect kept"
        return f"{size.width} × {size.height} px {shape}"
    if size.width is not None:
        return f"{size.width} px wide, the height to match"
    if size.height is not None:
        return f"{size.height} px high, the width to match"
    if size.longest_side is not None:
        return f"{size.longest_side} px on the longer side"
    return f"{size.scale:g}× the upload"
