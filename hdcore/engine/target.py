"""What size the caller wants, and how the chain gets there.

A request is a factor (2, 3, 4, or any from 1.1 to 8), a target width and/or height ("fit within" by default,
"fill and crop" on request), or a longest side. The chain runs the smallest native scale at or above the factor
that is needed (2, 3 or 4); past 4x it runs twice (4x, then 2x), because no tier has 8x. One high-quality resize
then gives the exact size, and a fill crops the centre to the box. Every size is checked against the output
pixel limit, the intermediate one of a two-pass run included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidInput

NATIVE_SCALES = (2, 3, 4)
MIN_FACTOR, MAX_FACTOR = 1.1, 8.0
Fit = Literal["within", "fill"]


@dataclass(frozen=True)
class Target:
    """The resolved request: the factor over the source, the passes to run, and the exact output."""

    factor: float  # the enlargement asked for (before a fill's crop)
    passes: tuple[int, ...]  # native scales run one after the other (4 then 2 for anything past 4x)
    resized: tuple[int, int]  # (width, height) after the one exact resize
    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) of ``resized`` for a fill

    @property
    def size(self) -> tuple[int, int]:
        if self.crop is None:
            return self.resized
        left, top, right, bottom = self.crop
        return right - left, bottom - top

    @property
    def native_factor(self) -> int:
        return math.prod(self.passes)

    @property
    def is_native(self) -> bool:
        """One pass at exactly the factor asked, no resize and no crop: the plain 2x / 3x / 4x of old."""
        return len(self.passes) == 1 and self.crop is None and float(self.passes[0]) == self.factor


def resolve(source: tuple[int, int], scale: Any = None, width: Any = None, height: Any = None,
            longest_side: Any = None, fit: Any = "within") -> Target:  # fmt: skip  # one field per way to ask
    """The target for a source of (width, height): by ``width`` / ``height``, else ``longest_side``, else ``scale``
    (default 4). Raises InvalidInput with a one-line reason for anything unusable."""
    w, h = source
    if fit not in ("within", "fill"):
        raise InvalidInput(f"fit must be 'within' or 'fill', not {fit!r}")
    if width is not None or height is not None:
        box = (_pixels("width", width), _pixels("height", height))
        return _box_target(source, box, fit)
    if longest_side is not None:
        factor = _pixels("longest side", longest_side) / max(w, h)
        return _factor_target(source, _checked_factor(factor, f"a longest side of {longest_side} px"))
    return _factor_target(source, _factor(4 if scale is None else scale))


def _factor(scale: Any) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise InvalidInput(f"scale must be a number from {MIN_FACTOR:g} to {MAX_FACTOR:g}, not {scale!r}") from None
    if isinstance(scale, bool) or not math.isfinite(value):
        raise InvalidInput(f"scale must be a number from {MIN_FACTOR:g} to {MAX_FACTOR:g}, not {scale!r}")
    return _checked_factor(value, f"scale {scale!r}")


def _checked_factor(value: float, asked: str) -> float:
    if not MIN_FACTOR - 1e-9 <= value <= MAX_FACTOR + 1e-9:
        raise InvalidInput(f"{asked} is a {value:.3g}x enlargement; hdcore enlarges {MIN_FACTOR:g}x to {MAX_FACTOR:g}x")
    return value


def _pixels(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"{name} must be a whole number of pixels, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number of pixels, not {value!r}") from None
    if not math.isfinite(number) or number != int(number) or number < 1:
        raise InvalidInput(f"{name} must be a whole number of pixels, not {value!r}")
    return int(number)


def _box_target(source: tuple[int, int], box: tuple[int | None, int | None], fit: Fit) -> Target:
    w, h = source
    bw, bh = box
    factors = [f for f in (None if bw is None else bw / w, None if bh is None else bh / h) if f is not None]
    factor = max(factors) if fit == "fill" and len(factors) == 2 else min(factors)
    asked = "x".join(str(v) if v is not None else "?" for v in box)
    factor = _checked_factor(factor, f"a {asked} px target")
    if len(factors) == 1 or fit == "within":
        resized = _fitted(source, factor, box)
        return Target(factor, _passes(factor), resized)
    resized = (max(bw, round(w * factor)), max(bh, round(h * factor)))  # covers the box: crop its centre
    left, top = (resized[0] - bw) // 2, (resized[1] - bh) // 2
    return Target(factor, _passes(factor), resized, (left, top, left + bw, top + bh))


def _fitted(source: tuple[int, int], factor: float, box: tuple[int | None, int | None]) -> tuple[int, int]:
    """The source scaled by ``factor``, each side exactly the box's where the box names it and limits it."""
    w, h = source
    width, height = max(1, round(w * factor)), max(1, round(h * factor))
    bw, bh = box
    if bw is not None and (bh is None or bw / w <= bh / h):
        width = bw
    if bh is not None and (bw is None or bh / h <= bw / w):
        height = bh
    return width, height


def _factor_target(source: tuple[int, int], factor: float) -> Target:
    w, h = source
    return Target(factor, _passes(factor), (max(1, round(w * factor)), max(1, round(h * factor))))


def _passes(factor: float) -> tuple[int, ...]:
    """The smallest native scale at or above ``factor``; past 4x, 4x then the smallest that reaches it."""
    for scale in NATIVE_SCALES:
        if factor <= scale + 1e-9:
            return (scale,)
    return (4, next(s for s in NATIVE_SCALES if 4 * s >= factor - 1e-9))
