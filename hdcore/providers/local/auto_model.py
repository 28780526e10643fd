"""The "auto" local model: pick a model from the image itself (photo or flat-colour art, tiny, grayscale).

The heuristic looks at how neighbouring pixels differ (on the 0-255 scale, the largest difference over the
three channels, to the right and below):

- ``flat``: the share of pixels that differ from their neighbours by at most 3 levels;
- ``texture``: the share that differ by 4 to 32 levels (fine detail, soft edges, noise);
- ``edges``: the share that differ by more than 32 levels (hard edges);
- ``palette``: the share of the flat pixels taken by their 64 most common colours.

Drawn art (anime, cartoons, logos, flat illustrations) is large regions of one colour, bounded by hard,
narrow edges: many flat pixels, few colours among them, and little texture for its edges. A photo's smooth
regions are gradients with sensor noise (many colours), and its edges are soft (texture around each edge).
So an image is taken for art when::

    flat >= 0.5  and  edges >= 0.01  and  texture <= 4 * edges  and  palette >= 0.4

(an image without hard edges, such as a smooth sky or a microscope slide, is treated as a photo: there is
nothing drawn to protect). Grayscale (every pixel's channels within 2 levels) is recorded in the reason;
the rule above works on gray levels as it does on colours. Tiny images (at most 128 x 128 pixels) get the
strongest, slowest model of their kind: at ~12 kpx/s on 2 CPU cores it costs a second or two there.

Measured (thresholds fitted on the first set, then checked on the second):

- fitting set: 19 scikit-image photos (astronaut, camera, chelsea, coffee, rocket, coins, moon, brick, grass,
  gravel, clock, hubble_deep_field, immunohistochemistry, retina, page, text, cell, microaneurysms, the left
  motorcycle view) and 17 drawn images (skimage's logo, horse, checkerboard, Shepp-Logan phantom, binary blobs,
  and 12 drawings: flat fills, dark outlines, cel shading, half on gradient skies, half saved as JPEG 75-85):
  36/36 whole images right; 8 random 160 x 120 crops of each: photos 136/144, art 126/136 (262/280, 94%).
- check set: 28 new drawings (``tests/test_model_selection.drawn_art``, another random sequence; 320 x 240 and
  400 x 300, lossless or JPEG 70-90): 28/28 whole, 168/168 of their 256 x 192 crops; 6 new random 256 x 192
  crops of each photo (and the right motorcycle view): 97/102 (95%).
- the misses: crops of ``rocket`` (a clean sky around a lattice tower) and ``brick`` look drawn; crops of art
  with no edge at all (a patch of sky) count as photos. Either mistake costs little: both models upscale both.

Cost: the features are computed on at most 2^18 pixels (a grid of windows of the image, see
``metrics.sample_windows``): about 60 ms on a 4 MP image on 2 cores (2026-12-02), bounded whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import AUTO_MODEL  # noqa: F401  (re-exported: the local tier and QA name it from here)
from .families import MODELS
from ...metrics import Window, sample_windows


FLAT_LEVELS = 3  # a neighbour this close (0-255 scale) is "the same colour" (allows JPEG and dithering noise)
EDGE_LEVELS = 32  # above this, a hard edge
PALETTE_SIZE = 64

MIN_FLAT = 0.5
MIN_EDGES = 0.01
MAX_TEXTURE_PER_EDGE = 4.0
MIN_PALETTE = 0.4
GRAY_LEVELS = 2  # channels this close: a gray pixel
MIN_GRAY_SHARE = 0.99
TINY_PIXELS = 128 * 128
SAMPLE_PIXELS = 1 << 18

# What each kind of image gets, best first; the first installed model is used.
PHOTO_MODELS = ("waifu2x-photo", "realesrgan-x4plus", "realcugan-se")
ART_MODELS = ("waifu2x-anime", "realesr-animevideov3", "realcugan-se")
TINY_PHOTO_MODELS = ("realesrgan-x4plus",) + PHOTO_MODELS
TINY_ART_MODELS = ("realesrgan-x4plus-anime",) + ART_MODELS


@dataclass(frozen=True)
class ImageTraits:
    """The measured features (shares of the sampled pixels) and the decisions made from them."""

    width: int
    height: int
    flat: float
    texture: float
    edges: float
    palette: float
    gray: float

    @property
    def is_art(self) -> bool:
        return (
            self.flat >= MIN_FLAT
            and self.edges >= MIN_EDGES
            and self.texture <= MAX_TEXTURE_PER_EDGE * self.edges
            and self.palette >= MIN_PALETTE
        )

    @property
    def is_grayscale(self) -> bool:
        return self.gray >= MIN_GRAY_SHARE

    @property
    def is_tiny(self) -> bool:
        return self.width * self.height <= TINY_PIXELS


def choose_local_model(source_color: np.ndarray) -> tuple[str, str]:
    """The local model for this image (float32 HxWx3 in [0, 1]) and why, in a few words for people."""
    traits = measure(source_color)
    candidates = _candidates(traits)
    installed = [name for name in candidates if name in MODELS and MODELS[name].is_available()]
    model = (installed or list(candidates))[0]
    return model, explain(traits)


def _candidates(traits: ImageTraits) -> tuple[str, ...]:
    if traits.is_tiny:
        return TINY_ART_MODELS if traits.is_art else TINY_PHOTO_MODELS
    return ART_MODELS if traits.is_art else PHOTO_MODELS


def explain(traits: ImageTraits) -> str:
    """Why the choice was made, e.g. "flat-colour art: 88% flat pixels, 97% of them in 64 colours, hard edges"."""
    parts = []
    if traits.is_tiny:
        parts.append(f"tiny image, {traits.width}x{traits.height}: the strongest model is affordable")
    if traits.is_art:
        parts.append(
            f"flat-colour art: {traits.flat:.0%} flat pixels, {traits.palette:.0%} of them in "
            f"{PALETTE_SIZE} colours, hard edges"
        )
    else:
        parts.append(f"photo: {_photo_evidence(traits)}")
    if traits.is_grayscale:
        parts.append("grayscale")
    return "; ".join(parts)


def _photo_evidence(traits: ImageTraits) -> str:
    if traits.flat < MIN_FLAT:
        return f"detail everywhere (only {traits.flat:.0%} flat pixels)"
    if traits.edges < MIN_EDGES:
        return "smooth, no hard edges"
    if traits.texture > MAX_TEXTURE_PER_EDGE * traits.edges:
        return f"soft edges ({traits.texture / traits.edges:.1f}x more texture than hard edges)"
    return f"gradients, not flat colours ({traits.palette:.0%} of flat pixels in {PALETTE_SIZE} colours)"


# --------------------------------------------------------------------------------------------- features


def measure(source_color: np.ndarray) -> ImageTraits:
    """The features of ``source_color``, on at most SAMPLE_PIXELS pixels (a grid of windows)."""
    height, width = source_color.shape[:2]
    levels = np.rint(np.clip(source_color, 0.0, 1.0) * 255).astype(np.int32)
    counts = np.zeros(4, dtype=np.int64)  # flat, texture, edges, all (pixels with both neighbours)
    flat_codes: list[np.ndarray] = []
    gray = total = 0
    for window in sample_windows((width, height), 1, SAMPLE_PIXELS):
        crop = _crop(levels, window)
        steps, codes = _neighbour_steps(crop)
        counts += _step_counts(steps)
        flat_codes.append(codes[steps <= FLAT_LEVELS])
        gray += int(np.count_nonzero(np.ptp(crop, axis=2) <= GRAY_LEVELS))
        total += crop.shape[0] * crop.shape[1]
    pixels = max(1, int(counts[3]))
    return ImageTraits(
        width=width,
        height=height,
        flat=counts[0] / pixels,
        texture=counts[1] / pixels,
        edges=counts[2] / pixels,
        palette=_palette_share(np.concatenate(flat_codes)),
        gray=gray / max(1, total),
    )


def _crop(levels: np.ndarray, window: Window) -> np.ndarray:
    return levels[window.top : window.top + window.height, window.left : window.left + window.width]


def _neighbour_steps(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel (but the last row and column): the largest step to its right or lower neighbour, and its colour."""
    right = np.abs(np.diff(levels, axis=1)).max(axis=2)[:-1, :]
    below = np.abs(np.diff(levels, axis=0)).max(axis=2)[:, :-1]
    core = levels[:-1, :-1]
    codes = (core[:, :, 0] << 16) | (core[:, :, 1] << 8) | core[:, :, 2]
    return np.maximum(right, below), codes


def _step_counts(steps: np.ndarray) -> np.ndarray:
    flat = int(np.count_nonzero(steps <= FLAT_LEVELS))
    edges = int(np.count_nonzero(steps > EDGE_LEVELS))
    return np.array([flat, steps.size - flat - edges, edges, steps.size], dtype=np.int64)


def _palette_share(codes: np.ndarray) -> float:
    """The share of ``codes`` taken by its PALETTE_SIZE most common values."""
    if codes.size == 0:
        return 0.0
    _, counts = np.unique(codes, return_counts=True)
    top = np.sort(counts)[-PALETTE_SIZE:]
    return float(top.sum() / codes.size)
