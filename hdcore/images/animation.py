"""Animated GIF, WebP and APNG: every frame in, as the whole picture a viewer shows, and back out at any size.

``read_animation`` decodes each frame as Pillow composites it (the previous frames, the disposal and blending
already applied), so every ``Frame`` is the full canvas in RGBA, with its duration and the disposal the file
declared. Because every frame is whole, ``write_animation`` writes frames that replace the canvas: GIF frames
are disposed to the background when the animation has transparency (so no frame shows through the next one's
transparent pixels) and left in place otherwise; APNG frames replace their area ("source" blending). Timing,
loop count, background and (WebP) lossless or lossy coding are kept.

Frames are held as uint8 RGBA (4 bytes a pixel, not the 16 of float32: all three formats are 8-bit); ``rgba()``
gives one frame as float32 in [0, 1] when it is worked on.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..config import DEFAULT_MAX_INPUT_PIXELS
from ..errors import ImageTooLarge, InvalidImage, InvalidInput
from ..text import error_text, shortened
from .decode import check_declared_size, open_image
from .encode import EncodedImage
from .sources import read_source_bytes

ANIMATED_FORMATS = {"GIF": "gif", "WEBP": "webp", "PNG": "png"}  # Pillow's name -> ours (PNG: APNG)
ANIMATION_MIME = {"gif": "image/gif", "webp": "image/webp", "png": "image/png"}  # APNG is served as PNG
# 64 MP of frames is 256 MB as RGBA: e.g. 250 frames of 480x540.
DEFAULT_MAX_ANIMATION_PIXELS = 64_000_000
# Each frame is one engine call (tens of ms on the local tier even when tiny): a file of a million 1x1 frames
# would pass the pixel cap and still run for hours.
MAX_FRAMES = 5_000
GIF_OPAQUE = 128  # GIF transparency is one bit: alpha from here on is drawn
GIF_TRANSPARENT_INDEX = 255
# Median cut without dithering: on a 256 px upscaled photo 38.2 dB against 36.3 dithered (and 37.9 / 36.9 for
# octree); dithering's noise also changes from frame to frame, which flickers.
GIF_QUANTIZE = Image.Quantize.MEDIANCUT
WEBP_LOSSY_QUALITY = 90  # as for still WebP
APNG_DISPOSE_NONE, APNG_BLEND_SOURCE = 0, 0


@dataclass(frozen=True)
class Frame:
    """One frame: the whole canvas as it is shown, for ``duration_ms``."""

    pixels: np.ndarray  # uint8 HxWx4 RGBA
    duration_ms: int
    disposal: int | None = None  # as the file declared it (GIF 0-3, APNG 0-2); None where WebP does not say

    def rgba(self) -> np.ndarray:
        """The frame as float32 HxWx4 in [0, 1]."""
        return self.pixels.astype(np.float32) / np.float32(255)


@dataclass(frozen=True)
class Animation:
    format: str  # "gif", "webp" or "png" (APNG)
    frames: tuple[Frame, ...]
    loop: int | None  # plays after the first: 0 forever; None: once, with no loop record (a GIF can say so)
    background: tuple[int, int, int, int] | None = None  # RGBA, where the file names one
    lossless: bool = True  # WebP: the first frame's coding; GIF and APNG are lossless

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.frames[0].pixels.shape[:2]
        return width, height

    @property
    def durations_ms(self) -> tuple[int, ...]:
        return tuple(frame.duration_ms for frame in self.frames)

    @property
    def has_transparency(self) -> bool:
        return any(int(frame.pixels[:, :, 3].min()) < 255 for frame in self.frames)


@dataclass(frozen=True)
class AnimationHeader:
    """What an animated file declares, read without decoding a frame."""

    format: str
    frames: int
    size: tuple[int, int]

    @property
    def pixels(self) -> int:
        """Frames x pixels a frame: what decoding it all takes."""
        return self.frames * self.size[0] * self.size[1]


def probe_animation(data: bytes, *, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> AnimationHeader | None:
    """The header of an animated GIF, WebP or APNG; None for a still image. Bad data: ``InvalidImage``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = open_image(data, max_pixels)
        check_declared_size(image.size, max_pixels)
        name = ANIMATED_FORMATS.get(image.format or "")
        try:
            frames = int(getattr(image, "n_frames", 1)) if name else 1
        except Exception as error:  # counting GIF frames reads the file: a broken one fails here
            raise InvalidImage(f"corrupt {image.format} data: {shortened(error_text(error))}") from error
    return AnimationHeader(name, frames, image.size) if name and frames > 1 else None


def read_animation(
    source: Any,
    *,
    max_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
    max_total_pixels: int = DEFAULT_MAX_ANIMATION_PIXELS,
    allow_paths: bool = True,
) -> Animation:
    """Every frame of an animated GIF, WebP or APNG (bytes, base64, a data URI or a path, as ``load_image``).

    ``max_pixels`` bounds the canvas, ``max_total_pixels`` frames x canvas; both are checked before any frame
    is decoded. A still image is an ``InvalidInput``.
    """
    data = read_source_bytes(source, allow_paths=allow_paths, max_pixels=max(max_pixels, max_total_pixels))
    header = probe_animation(data, max_pixels=max_pixels)
    if header is None:
        raise InvalidInput("not an animation: the image has a single frame")
    check_animation_pixels(header.frames, header.size, max_total_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = open_image(data, max_pixels)
        frames = tuple(_frame(image, index, header) for index in range(header.frames))
        image.seek(0)
        loop, background = image.info.get("loop"), _background(image)
    lossless = header.format != "webp" or _webp_is_lossless(data)
    return Animation(header.format, frames, loop if isinstance(loop, int) else None, background, lossless)


def check_animation_pixels(frames: int, size: tuple[int, int], max_total_pixels: int, what: str = "") -> None:
    """``ImageTooLarge`` naming the numbers when frames x pixels a frame is over ``max_total_pixels``, or the
    frames are more than ``MAX_FRAMES``."""
    if frames > MAX_FRAMES:
        raise ImageTooLarge(f"animation too long: {frames:,} frames, over the limit of {MAX_FRAMES:,} frames")
    width, height = size
    total = frames * width * height
    if total > max_total_pixels:
        raise ImageTooLarge(
            f"animation too large: {frames} frames of {width}x{height}{what} = {total:,} pixels, "
            f"over the limit of {max_total_pixels:,} pixels for all frames together"
        )


def _frame(image: Image.Image, index: int, header: AnimationHeader) -> Frame:
    try:
        image.seek(index)
        image.load()  # WebP sets a frame's duration only once it is decoded
        pixels = np.asarray(image.convert("RGBA"))
    except Exception as error:  # Pillow's decoders raise many kinds; each means this frame is unusable
        detail = shortened(error_text(error))
        raise InvalidImage(f"truncated or corrupt {header.format.upper()} data: frame {index + 1}: {detail}") from error
    if pixels.shape[:2] != header.size[::-1]:
        raise InvalidImage(f"corrupt {header.format.upper()} data: frame {index + 1} is not the canvas size")
    duration = image.info.get("duration", 0)
    disposal = getattr(image, "disposal_method", image.info.get("disposal"))
    return Frame(
        pixels=pixels,
        duration_ms=max(0, int(round(duration))) if isinstance(duration, (int, float)) else 0,
        disposal=disposal if isinstance(disposal, int) else None,
    )


def _background(image: Image.Image) -> tuple[int, int, int, int] | None:
    background = image.info.get("background")
    if isinstance(background, tuple) and len(background) == 4:  # WebP: RGBA
        return tuple(int(value) for value in background)  # type: ignore[return-value]
    palette = image.getpalette() if image.mode == "P" else None
    if isinstance(background, int) and palette and 3 * background + 2 < len(palette):  # GIF: a palette index
        red, green, blue = palette[3 * background : 3 * background + 3]
        return red, green, blue, 0 if image.info.get("transparency") == background else 255
    return None


def _webp_is_lossless(data: bytes) -> bool:
    """Whether the first frame of an animated WebP is coded lossless (VP8L) rather than lossy (VP8)."""
    for kind, start, end in _riff_chunks(data, 12, len(data)):
        if kind == b"ANMF":  # 16 bytes of frame header, then the frame's own chunks (ALPH, VP8 or VP8L)
            coding = [inner for inner, _, _ in _riff_chunks(data, start + 16, end) if inner in (b"VP8 ", b"VP8L")]
            return coding[:1] == [b"VP8L"]
    return False


def _riff_chunks(data: bytes, offset: int, end: int) -> list[tuple[bytes, int, int]]:
    """(fourcc, start, end of its data) for each chunk between ``offset`` and ``end``; data is padded to even."""
    chunks = []
    while offset + 8 <= end:
        (length,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        chunks.append((data[offset : offset + 4], offset + 8, min(end, offset + 8 + length)))
        offset += 8 + length + (length & 1)
    return chunks


def write_animation(animation: Animation, *, quality: int | None = None) -> EncodedImage:
    """``animation`` in its own format, timing, loop and background kept; ``quality`` for lossy WebP."""
    images = [Image.fromarray(np.ascontiguousarray(frame.pixels), "RGBA") for frame in animation.frames]
    writer = {"gif": _write_gif, "webp": _write_webp, "png": _write_apng}.get(animation.format)
    if writer is None:
        raise InvalidInput(f"unknown animation format {animation.format!r}: gif, webp or png")
    buffer = io.BytesIO()
    writer(images, animation, buffer, quality)
    return EncodedImage(buffer.getvalue(), animation.format, ANIMATION_MIME[animation.format])


def _write_gif(images: Sequence[Image.Image], animation: Animation, buffer: io.BytesIO, quality: int | None) -> None:
    transparent = animation.has_transparency
    frames = [gif_frame(np.asarray(image)) for image in images]
    # optimize=False: our palettes are already the frames' own; Pillow's pass saved nothing on 20 frames of 128x96
    # (204,506 bytes either way with transparency; 213,723 against 209,532 without).
    options: dict[str, Any] = {"duration": list(animation.durations_ms), "optimize": False}
    # Whole frames: cleared to the background when the next one may be transparent, else left in place.
    options["disposal"] = 2 if transparent else 1
    if animation.loop is not None:
        options["loop"] = animation.loop
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], **options)


def gif_frame(pixels: np.ndarray) -> Image.Image:
    """An RGBA frame as a GIF frame: its own 255-colour palette from its visible pixels, index 255 transparent."""
    visible = pixels[:, :, 3] >= GIF_OPAQUE
    colours = np.ascontiguousarray(pixels[:, :, :3])
    shown = colours[visible] if visible.any() else colours.reshape(-1, 3)[:1]
    palette = Image.fromarray(shown.reshape(1, -1, 3)).quantize(GIF_TRANSPARENT_INDEX, method=GIF_QUANTIZE)
    entries = (palette.getpalette() or [])[: 3 * GIF_TRANSPARENT_INDEX]
    entries += [0] * (3 * GIF_TRANSPARENT_INDEX - len(entries))
    palette.putpalette(entries + entries[:3])  # entry 255 repeats entry 0, so no visible pixel needs index 255
    indices = np.array(Image.fromarray(colours).quantize(palette=palette, dither=Image.Dither.NONE))
    indices[indices == GIF_TRANSPARENT_INDEX] = 0
    indices[~visible] = GIF_TRANSPARENT_INDEX
    frame = Image.fromarray(indices, "P")
    frame.putpalette(entries + [0, 0, 0])
    frame.info["transparency"] = GIF_TRANSPARENT_INDEX
    return frame


def _write_webp(images: Sequence[Image.Image], animation: Animation, buffer: io.BytesIO, quality: int | None) -> None:
    options: dict[str, Any] = {"duration": list(animation.durations_ms), "loop": animation.loop or 0}
    if animation.lossless and quality is None:
        options["lossless"] = True
    else:
        options["quality"] = WEBP_LOSSY_QUALITY if quality is None else quality
    if animation.background is not None:
        options["background"] = animation.background
    images[0].save(buffer, "WEBP", save_all=True, append_images=list(images[1:]), **options)


def _write_apng(images: Sequence[Image.Image], animation: Animation, buffer: io.BytesIO, quality: int | None) -> None:
    images[0].save(
        buffer,
        "PNG",
        save_all=True,
        append_images=list(images[1:]),
        duration=list(animation.durations_ms),
        loop=animation.loop or 0,
        disposal=APNG_DISPOSE_NONE,  # every frame is whole ...
        blend=APNG_BLEND_SOURCE,  # ... and replaces its area, transparent pixels included
    )
