"""Animated GIF, WebP and APNG: every frame read whole, written back at a new size with timing and loop kept."""

from __future__ import annotations

import functools
import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageSequence

from hdcore.errors import ImageTooLarge, InvalidImage, InvalidInput
from hdcore.images.animation import (
    MAX_FRAMES,
    Frame,
    check_animation_pixels,
    gif_frame,
    probe_animation,
    read_animation,
    write_animation,
)
from hdcore.resize import lanczos_resize
from tests.images.helpers import assert_one_line, astronaut, encoded

FRAMES = 20
DURATIONS = [40 + 10 * (index % 5) for index in range(FRAMES)]  # GIF keeps hundredths of a second


def frame_pixels(index: int, transparent: bool) -> np.ndarray:
    """Frame ``index`` of a little film: the photo panning right, a white square moving down, a hole in it."""
    pixels = np.dstack([np.roll(astronaut(), 2 * index, axis=1), np.full(astronaut().shape[:2], 255, np.uint8)])
    pixels[2 * index % 40 : 2 * index % 40 + 6, 4:10, :3] = 255
    if transparent:
        pixels[-10:, -12:, 3] = 0  # a fully transparent corner, as logos and stickers have
        pixels[-10:, -12:, :3] = 0
    return pixels


@functools.cache
def film(format_name: str, *, transparent: bool = True, **options) -> bytes:
    frames = [Image.fromarray(frame_pixels(index, transparent)) for index in range(FRAMES)]
    if format_name == "GIF":
        frames = [gif_frame(np.asarray(frame)) for frame in frames]
        options.setdefault("disposal", 2)
    return encoded(frames[0], format_name, save_all=True, append_images=frames[1:], duration=DURATIONS, **options)


def pillow_frames(data: bytes) -> list[np.ndarray]:
    with Image.open(io.BytesIO(data)) as image:
        return [np.asarray(frame.convert("RGBA")) for frame in ImageSequence.Iterator(image)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255**2 / error)


SOURCES = {
    "gif": lambda: film("GIF", loop=0),
    "webp": lambda: film("WEBP", loop=0, lossless=True),
    "png": lambda: film("PNG", loop=0, disposal=0, blend=0),
}


@pytest.mark.parametrize("format_name", list(SOURCES))
def test_every_frame_is_read_whole_with_its_duration(format_name: str) -> None:
    data = SOURCES[format_name]()
    animation = read_animation(data)
    assert animation.format == format_name and len(animation.frames) == FRAMES
    assert animation.durations_ms == tuple(DURATIONS) and animation.loop == 0
    assert animation.size == (64, 48) and animation.has_transparency
    for frame, expected in zip(animation.frames, pillow_frames(data), strict=True):
        assert frame.pixels.dtype == np.uint8 and frame.pixels.shape == (48, 64, 4)
        np.testing.assert_array_equal(frame.pixels, expected)
    assert animation.frames[3].rgba().dtype == np.float32 and animation.frames[3].rgba().max() <= 1.0


def test_the_declared_disposal_is_recorded() -> None:
    assert {frame.disposal for frame in read_animation(film("GIF", loop=0)).frames} == {2}
    assert {frame.disposal for frame in read_animation(SOURCES["png"]()).frames} == {0}


def test_webp_lossless_or_lossy_coding_is_recognised() -> None:
    assert read_animation(film("WEBP", lossless=True)).lossless
    assert not read_animation(film("WEBP", quality=80)).lossless


def upscaled(animation, factor: int = 2):
    width, height = animation.size
    size = (width * factor, height * factor)
    frames = []
    for frame in animation.frames:
        rgba = np.clip(lanczos_resize(frame.rgba(), size), 0, 1)
        rgba[:, :, 3] = np.where(rgba[:, :, 3] > 0.5, 1.0, 0.0)  # a hard edge stays hard: easy to check
        frames.append(replace(frame, pixels=np.rint(rgba * 255).astype(np.uint8)))
    return replace(animation, frames=tuple(frames))


@pytest.mark.parametrize("format_name", list(SOURCES))
def test_an_animation_written_at_twice_the_size_keeps_frames_timing_loop_and_transparency(format_name: str) -> None:
    bigger = upscaled(read_animation(SOURCES[format_name]()))
    result = write_animation(bigger)
    assert result.format == format_name
    back = read_animation(result.data)
    assert back.format == format_name and back.size == (128, 96)
    assert back.durations_ms == tuple(DURATIONS) and back.loop == 0
    for written, wanted in zip(back.frames, bigger.frames, strict=True):
        np.testing.assert_array_equal(written.pixels[:, :, 3], wanted.pixels[:, :, 3])  # transparency kept
        visible = wanted.pixels[:, :, 3] > 0
        quality = psnr(written.pixels[:, :, :3][visible], wanted.pixels[:, :, :3][visible])
        assert quality >= (30 if format_name == "gif" else 99), quality  # WebP lossless and APNG: exact


def test_loop_counts_and_a_gif_without_a_loop_record_are_kept() -> None:
    for data, loop in ((film("GIF"), None), (film("GIF", loop=3), 3), (film("WEBP", loop=5), 5)):
        animation = read_animation(data)
        assert animation.loop == loop
        written = write_animation(upscaled(animation)).data
        assert read_animation(written).loop == loop
        with Image.open(io.BytesIO(written)) as image:
            assert image.info.get("loop") == loop


def test_lossy_webp_stays_lossy_and_takes_a_quality() -> None:
    animation = upscaled(read_animation(film("WEBP", quality=80)))
    assert not read_animation(write_animation(animation).data).lossless
    small = write_animation(animation, quality=20).data
    assert len(small) < len(write_animation(animation, quality=95).data)


def test_an_opaque_gif_is_written_with_frames_left_in_place() -> None:
    animation = upscaled(read_animation(film("GIF", transparent=False, loop=0)))
    assert not animation.has_transparency
    back = read_animation(write_animation(animation).data)
    assert {frame.disposal for frame in back.frames} == {1}
    for written, wanted in zip(back.frames, animation.frames, strict=True):
        assert psnr(written.pixels, wanted.pixels) >= 30


def test_a_gif_frame_keeps_visible_pixels_off_the_transparent_index() -> None:
    pixels = frame_pixels(0, transparent=True)
    frame = gif_frame(pixels)
    indices = np.asarray(frame)
    visible = pixels[:, :, 3] >= 128
    assert frame.info["transparency"] == 255
    assert (indices[~visible] == 255).all() and (indices[visible] != 255).all()
    rgb = np.asarray(frame.convert("RGB"))
    assert psnr(rgb[visible], pixels[:, :, :3][visible]) >= 30


def test_frames_times_pixels_over_the_limit_is_refused_naming_the_numbers() -> None:
    with pytest.raises(ImageTooLarge) as error:
        read_animation(film("GIF"), max_total_pixels=50_000)
    assert_one_line(error, "20 frames of 64x48", "61,440 pixels", "50,000")


def test_a_still_image_is_not_an_animation() -> None:
    still = encoded(Image.fromarray(astronaut()), "PNG")
    assert probe_animation(still) is None
    with pytest.raises(InvalidInput) as error:
        read_animation(still)
    assert_one_line(error, "not an animation")
    header = probe_animation(film("GIF"))
    assert header is not None and (header.format, header.frames, header.size) == ("gif", 20, (64, 48))


def test_a_truncated_animation_is_refused_with_one_line() -> None:
    data = film("WEBP", lossless=True)
    with pytest.raises(InvalidImage) as error:
        read_animation(data[: len(data) * 2 // 3])
    assert_one_line(error, "WEBP")


def test_frame_rgba_is_float_in_unit_range() -> None:
    frame = Frame(np.full((2, 3, 4), 255, np.uint8), 100)
    np.testing.assert_array_equal(frame.rgba(), np.ones((2, 3, 4), np.float32))


def test_more_frames_than_the_frame_limit_is_refused_however_small_they_are() -> None:
    with pytest.raises(ImageTooLarge) as error:
        check_animation_pixels(MAX_FRAMES + 1, (1, 1), 10**9)
    assert_one_line(error, f"{MAX_FRAMES + 1:,} frames", f"limit of {MAX_FRAMES:,} frames")
    check_animation_pixels(MAX_FRAMES, (1, 1), 10**9)  # at the limit: accepted
