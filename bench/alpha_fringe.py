"""Measure the dark fringe at a hard alpha edge over a black matte, with and without colour bleeding.

    python bench/alpha_fringe.py [--size 96]

The test image: a disk of one opaque colour, alpha 1 inside and 0 outside (a hard edge, so the input has no
ring at all), whose hidden pixels are black. It is upscaled twice, by a 4x Lanczos resize and by the local
tier's waifu2x-photo at 2x, once from the colour as stored ("before") and once from the colour ``load_image``
bleeds under alpha 0 ("after"); alpha is upscaled with Lanczos both times, as ``compose`` does. The figure is
``edge_luminance_ratio``: the mean luminance of the output's partly transparent pixels (0.02 < alpha < 0.98)
over the opaque colour's luminance. 1.00 means no darker ring than the input had.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from hdcore import Engine  # noqa: E402
from hdcore.images import as_float_rgb, compose, load_image  # noqa: E402
from hdcore.images.bleed import edge_luminance_ratio  # noqa: E402
from hdcore.resize import lanczos_resize  # noqa: E402

COLOURS = {"orange": (0.85, 0.55, 0.25), "near-white": (0.95, 0.95, 0.92)}


def disk_over_black(size: int, colour: tuple[float, float, float]) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    alpha = (((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2) < (size * 0.36) ** 2).astype(np.float32)
    return np.dstack([alpha[:, :, None] * np.float32(colour), alpha])  # black wherever alpha is 0


def rgba_of(image) -> np.ndarray:
    return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255


def measure(engine: Engine, size: int, colour: tuple[float, float, float]) -> dict[str, float]:
    rgba = disk_over_black(size, colour)
    source = load_image(rgba)  # its colour is bled; rgba[..., :3] is the colour as stored
    stored = np.ascontiguousarray(rgba[:, :, :3])
    big = (size * 4, size * 4)
    lanczos_before = compose(lanczos_resize(stored, big), source)
    lanczos_after = compose(lanczos_resize(source.color, big), source)
    model_before = compose(as_float_rgb(engine.enhance(stored, 2, "local", "waifu2x-photo").image), source)
    model_after = engine.enhance(rgba, 2, "local", "waifu2x-photo").image
    return {
        name: edge_luminance_ratio(rgba_of(image), colour)
        for name, image in (("lanczos 4x before", lanczos_before), ("lanczos 4x after", lanczos_after),
                            ("waifu2x-photo 2x before", model_before), ("waifu2x-photo 2x after", model_after))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96, help="side of the test image in px (default 96)")
    args = parser.parse_args(argv)
    engine = Engine()
    rows = {name: measure(engine, max(16, args.size), colour) for name, colour in COLOURS.items()}
    columns = list(next(iter(rows.values())))
    print("| disk colour | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, figures in rows.items():
        print(f"| {name} | " + " | ".join(f"{figures[column]:.3f}" for column in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
