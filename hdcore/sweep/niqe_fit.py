"""Fit NIQE's pristine model on scikit-image's sample photos: ``python -m hdcore.sweep.niqe_fit [OUT.json]``.

Writes ``niqe_pristine.json`` beside this module (the model ``niqe`` ships with), or OUT.json. It needs
scikit-image (a test requirement, not a run-time one); the photos are bundled with it, nothing is downloaded.

The photos and their licences, from scikit-image's ``skimage.data`` documentation:
astronaut (NASA, public domain), brick (CC0Textures, CC0), camera (Lav Varshney, CC0), coffee (Rachel Michetti,
CC0), coins (Brooklyn Museum, no known copyright restrictions), grass (DeviantArt linolafett, CC0), gravel
(CC0Textures, CC0), rocket (SpaceX, public domain). Chelsea (Stefan van der Walt, CC0) is held out so the
tests can check the model on a photo it has not seen. Colour photos are taken as their BT.601 Y channel.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from . import niqe
from .scores import y_channel

PRISTINE_PHOTOS = ("astronaut", "brick", "camera", "coffee", "coins", "grass", "gravel", "rocket")
HELD_OUT_PHOTO = "chelsea"
SOURCE = (
    "scikit-image sample photos (public domain / CC0): " + ", ".join(PRISTINE_PHOTOS)
    + "; Y channel (BT.601, 0-255), 96 px patches sharper than 0.75 of each photo's sharpest"
)


def sample_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photos as 8-bit RGB (gray ones replicated into three channels)."""
    from skimage import data

    photo = getattr(data, name)()
    return np.repeat(photo[:, :, np.newaxis], 3, axis=2) if photo.ndim == 2 else photo


def fit_pristine_model() -> niqe.NiqeModel:
    return niqe.fit((y_channel(sample_photo(name)) for name in PRISTINE_PHOTOS), SOURCE)


def write_model(model: niqe.NiqeModel, path: Path) -> None:
    path.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    path = Path(arguments[0]) if arguments else niqe.MODEL_FILE
    model = fit_pristine_model()
    write_model(model, path)
    print(f"wrote {path}: {model.patches} patches from {len(PRISTINE_PHOTOS)} photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
