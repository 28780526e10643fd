"""Colour for fully transparent pixels, taken from the visible pixels nearest to them.

An upscaler mixes neighbouring pixels whatever their alpha. At an alpha edge, the colour stored under alpha 0
(usually black, sometimes garbage) is mixed into the visible edge pixels, and the upscaled image shows a dark
fringe once the (separately upscaled) alpha lets those pixels through. Giving every hidden pixel the colour of
the visible ones next to it removes the fringe and changes nothing that can be seen: visible pixels (alpha > 0)
keep their colour, and hidden ones stay hidden.

The fill is a pull-push pyramid: colours weighted by alpha are summed down to ever coarser levels until every
pixel there has a visible contributor, then spread back up, each level keeping what it knows. It is exact near
the edge (a hidden pixel next to visible ones gets their mean), smooth further away, and O(pixels) with numpy
alone (1.3 s for a 16 MP image, a quarter of it visible, on 2 shared cores). Measured on a hard-edged disk over a
black matte (``bench/alpha_fringe.py``): the edge pixels kept 1.000 of the opaque colour's luminance instead of
0.493 after a 4x Lanczos upscale, and 0.997 instead of 0.474 after waifu2x-photo at 2x.
"""

from __future__ import annotations

import numpy as np

from .formats import LUMA_WEIGHTS

EDGE_ALPHA = (0.02, 0.98)  # the anti-aliased ring of an edge: partly transparent, beyond 8-bit rounding


def bleed_transparent(color: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """``color`` (float32 HxWx3) with every pixel whose ``alpha`` is 0 filled from the nearest visible colour."""
    if alpha is None:
        return color
    hidden = alpha <= 0
    if not hidden.any() or hidden.all():
        return color
    weight = alpha.astype(np.float32, copy=False)
    coarse = _pull_push(_sum_2x2(color, weight), _sum_2x2(weight))
    bled = color.copy()
    _fill_from_coarse(bled, coarse, hidden)
    return bled


def _pull_push(weighted: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each pixel's weighted mean colour; where nothing is known, the colour of the next coarser level."""
    colour = weighted / np.maximum(weight, np.float32(1e-12))[:, :, np.newaxis]
    unknown = weight <= 0
    if unknown.any():  # at 1x1 at the latest, every level knows something: some pixel is visible
        _fill_from_coarse(colour, _pull_push(_sum_2x2(weighted), _sum_2x2(weight)), unknown)
    return colour


def _sum_2x2(values: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Sums over 2x2 blocks (of ``values`` x ``weight`` when given); an odd last row or column sums alone."""
    height, width = values.shape[:2]
    total = np.zeros(((height + 1) // 2, (width + 1) // 2, *values.shape[2:]), dtype=np.float32)
    for row in (0, 1):
        for column in (0, 1):
            part = values[row::2, column::2]
            if weight is not None:
                part = part * weight[row::2, column::2, np.newaxis]
            total[: part.shape[0], : part.shape[1]] += part
    return total


def _fill_from_coarse(colour: np.ndarray, coarse: np.ndarray, where: np.ndarray) -> None:
    """Give the ``where`` pixels of ``colour`` the value of the coarse pixel covering them (in place)."""
    for row in (0, 1):
        for column in (0, 1):
            target = colour[row::2, column::2]
            height, width = target.shape[:2]
            np.copyto(target, coarse[:height, :width], where=where[row::2, column::2, np.newaxis])


def edge_luminance_ratio(rgba: np.ndarray, opaque_rgb: np.ndarray) -> float:
    """How dark an image's alpha edge is: the mean luminance (ITU-R 601) of its partly transparent pixels
    (``EDGE_ALPHA``) over the luminance of ``opaque_rgb``, the colour inside the edge. 1.0: no fringe;
    below: a darker ring. ``rgba``: float HxWx4 in [0, 1], straight (not premultiplied) alpha.
    """
    alpha = rgba[:, :, 3]
    edge = (alpha > EDGE_ALPHA[0]) & (alpha < EDGE_ALPHA[1])
    if not edge.any():
        raise ValueError("the image has no partly transparent pixels to measure")
    return float((rgba[:, :, :3][edge] @ LUMA_WEIGHTS).mean() / (np.asarray(opaque_rgb, np.float32) @ LUMA_WEIGHTS))
