"""What a Space really does, declared: its endpoint and arguments, the scales its app runs at, and the input
width it works at. From HDCORE_SPACE_* settings, else from ``KNOWN_SPACES`` for the Spaces we know.

Why it matters: the seed's ``akhaliq/Real-ESRGAN`` resizes every input to 256 px wide before its 4x pass, so
for a 1000 px photo its "4x" is ~1024 px wide, about 1x of the original's detail, and for a 2000 px photo it
holds half of it. The rule, from the effective upscale (the model's output width over the original width):

    effective < 1.0           skipped before anything is sent: the answer holds less detail than the input
                              itself, worse than a Lanczos resize of it
    1.0 <= effective < asked  sent, with a warning the user sees: the Space adds detail up to that factor,
                              the rest of the way is a Lanczos resize
    otherwise                 sent as is
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import shown_value
from ...errors import ConfigError

MIN_EFFECTIVE_UPSCALE = 1.0  # below this the Space's answer holds less detail than the original


@dataclass(frozen=True)
class SpaceDeclaration:
    """What one Space's app does. ``args`` follow the image; "{scale}" in one becomes the native scale used."""

    api_name: str = "/predict"
    args: tuple = ("base",)
    native_scales: tuple[int, ...] = (4,)  # what the app itself answers at (our own space/ app: 4x)
    works_at_width: int | None = None  # every input is resized to this width before the model runs
    note: str = ""

    def native_scale(self, scale: int) -> int:
        """The app's scale used for ``scale``: the smallest at least as large (its answer is fitted down)."""
        larger = [native for native in sorted(self.native_scales) if native >= scale]
        return larger[0] if larger else max(self.native_scales)

    def arguments(self, scale: int) -> tuple:
        native = self.native_scale(scale)
        return tuple(arg.replace("{scale}", str(native)) if isinstance(arg, str) else arg for arg in self.args)

    def answer_size(self, size: tuple[int, int], scale: int) -> tuple[int, int]:
        """The size the app answers at for an input of ``size``."""
        width, height = size
        native = self.native_scale(scale)
        worked = self.works_at_width or width
        return worked * native, max(1, round(height * worked / width)) * native

    def effective_upscale(self, size: tuple[int, int], scale: int) -> float:
        """The model's output width over the original's: the detail it really adds (an input it upsizes first
        loses nothing, so its factor is the app's scale)."""
        native = self.native_scale(scale)
        if self.works_at_width is None or self.works_at_width >= size[0]:
            return float(native)
        return self.works_at_width * native / size[0]

    def verdict(self, size: tuple[int, int], scale: int) -> tuple[str, str]:
        """(why it is not sent, or ""; a warning for the user, or "") for this input and scale."""
        effective = self.effective_upscale(size, scale)
        if effective >= scale:
            return "", ""
        works = f"the Space works at {self.works_at_width} px wide: its {self.native_scale(scale)}x of this " \
                f"{size[0]} px image"
        if effective < MIN_EFFECTIVE_UPSCALE:
            return f"{works} holds only {effective:.2f}x of the original's detail, worse than Lanczos; not sent", ""
        return "", f"{works} is really {effective:.2f}x of the original; the rest to {scale}x is a Lanczos resize"


# Checked against each Space's app.py (the issue's research and the Spaces' code), as of 2026-12-01.
KNOWN_SPACES: dict[str, SpaceDeclaration] = {
    # Gradio 2, inference(img, mode): resizes to 256 px wide, then Real-ESRGAN 4x; often in "Runtime error"
    "akhaliq/Real-ESRGAN": SpaceDeclaration("/predict", ("base",), (4,), works_at_width=256,
                                            note="works at 256 px wide; often in Runtime error"),
    # gr.Interface(inference(image, size)) with size one of "2x", "4x", "8x"; the input is used as it is
    "doevent/Face-Real-ESRGAN": SpaceDeclaration("/predict", ("{scale}x",), (2, 4, 8),
                                                 note="Real-ESRGAN 2x/4x/8x, better on faces"),
}


def scale_list(variable: str, raw: str) -> tuple[int, ...]:
    """A Setting parser: "4" or "2,4,8", each from 1 to 16."""
    try:
        scales = tuple(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError:
        scales = ()
    if not scales or not all(1 <= scale <= 16 for scale in scales):
        raise ConfigError(f'{variable} must list the scales the Space runs at, from 1 to 16, such as "4" or "2,4,8"')
    return scales


def width_or_none(variable: str, raw: str) -> int:
    """A Setting parser: the width a Space resizes its inputs to, or 0 ("none") when it takes them as they are."""
    if raw.strip().lower() in ("none", "off", "0"):
        return 0
    try:
        width = int(raw)
    except ValueError:
        width = 0
    if not 16 <= width <= 65_536:
        raise ConfigError(f"{variable} must be a width in pixels from 16 to 65536, or none, not {shown_value(raw)}")
    return width
