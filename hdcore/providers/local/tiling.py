"""Tiled processing of large images, owning only the tiling (like Real-ESRGAN's RealESRGANer, minus the model).

The input is cut into a grid of ``tile_size`` cores. Each tile is handed to a function together with
``tile_pad`` pixels of *real* neighbouring context on every side (less at the image border), so the
function's output near the core's edges is computed from the same pixels as an untiled run would use.
Only each tile's core is pasted into the result; tiles never overlap in the output, so there is no blending.

Pure numpy; a Tiler holds only its two settings, so one instance may serve many threads at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

TileFn = Callable[[np.ndarray], np.ndarray]
ProgressFn = Callable[[int, int], None]
CheckFn = Callable[[], None]


class TileError(RuntimeError):
    """A tile's function failed or returned something unusable; the output is abandoned, never half-pasted."""


@dataclass(frozen=True)
class Box:
    """Rows [top, bottom) and columns [left, right) of an image."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def of(self, image: np.ndarray, scale: int = 1) -> np.ndarray:
        """This box of ``image`` (a view), in coordinates multiplied by ``scale``."""
        return image[self.top * scale: self.bottom * scale, self.left * scale: self.right * scale]


@dataclass(frozen=True)
class Tile:
    core: Box  # the part of the output this tile is responsible for
    context: Box  # the core plus up to tile_pad px of real image around it: what the function sees

    def core_within_context(self) -> Box:
        """The core in the coordinates of the context crop."""
        return Box(self.core.top - self.context.top, self.core.bottom - self.context.top,
                   self.core.left - self.context.left, self.core.right - self.context.left)


class Tiler:
    """Split, process and reassemble. ``tile_size`` 0 means one tile: the whole image."""

    def __init__(self, tile_size: int, tile_pad: int = 0):
        if tile_size < 0 or tile_pad < 0:
            raise ValueError(f"tile_size and tile_pad must be >= 0, not {tile_size} and {tile_pad}")
        self.tile_size = tile_size
        self.tile_pad = tile_pad

    def __repr__(self) -> str:
        return f"Tiler(tile_size={self.tile_size}, tile_pad={self.tile_pad})"

    def plan(self, height: int, width: int) -> list[Tile]:
        """The tiles for an image of this size, row by row. Cores start at multiples of tile_size.

        An axis no longer than one tile *with* its context is not split: the function would be handed a
        crop that long anyway, and splitting it would only add seams and recomputed context.
        """
        return [self._tile(rows, columns, height, width)
                for rows in self._spans(height) for columns in self._spans(width)]

    def _spans(self, length: int) -> list[tuple[int, int]]:
        """[start, end) of the cores along one axis."""
        if self.tile_size == 0 or length <= self.tile_size + 2 * self.tile_pad:
            return [(0, length)]
        return [(start, min(start + self.tile_size, length)) for start in range(0, length, self.tile_size)]

    def _tile(self, rows: tuple[int, int], columns: tuple[int, int], height: int, width: int) -> Tile:
        (top, bottom), (left, right) = rows, columns
        pad = self.tile_pad
        context = Box(max(top - pad, 0), min(bottom + pad, height), max(left - pad, 0), min(right + pad, width))
        return Tile(Box(top, bottom, left, right), context)

    def run(self, image: np.ndarray, function: TileFn, scale: int, *,
            progress: ProgressFn | None = None, check: CheckFn | None = None) -> np.ndarray:
        """Apply ``function`` (tile -> tile upscaled exactly ``scale`` x) tile by tile; return the whole output.

        ``check`` is called before every tile and may raise to stop (cancel, deadline);
        ``progress(done, total)`` is called after every tile.
        """
        height, width = image.shape[:2]
        tiles = self.plan(height, width)
        output = np.empty((height * scale, width * scale) + image.shape[2:], dtype=np.float32)
        for done, tile in enumerate(tiles, start=1):
            if check is not None:
                check()
            result = _call(function, tile.context.of(image), scale)
            tile.core.of(output, scale)[...] = tile.core_within_context().of(result, scale)
            if progress is not None:
                progress(done, len(tiles))
        return output


def _call(function: TileFn, crop: np.ndarray, scale: int) -> np.ndarray:
    """Run one tile and insist on an output of exactly the expected shape."""
    try:
        result = function(crop)
    except Exception as error:  # noqa: BLE001 - any failure of the tile function ends the whole run
        raise TileError(f"tile {crop.shape[1]}x{crop.shape[0]} failed: {error}") from error
    expected = (crop.shape[0] * scale, crop.shape[1] * scale) + crop.shape[2:]
    result = np.asarray(result)
    if result.shape != expected:
        raise TileError(f"tile function returned shape {result.shape}, expected {expected}")
    return result
