"""Animated images through the engine: an estimate first, every frame upscaled, timing and loop kept, a cap,
local tiers unless paid ones are allowed, progress per frame, cancelling between frames."""

from __future__ import annotations

import functools
import io
import threading

import numpy as np
import pytest
from PIL import Image

from hdcore import Config, Engine
from hdcore.animated import FrameProgress, enhance_animation, estimate_animation
from hdcore.errors import Cancelled, ImageTooLarge, InvalidInput
from hdcore.images.animation import gif_frame, read_animation
from hdcore.providers.base import UpscaleRequest
from tests.conftest import ScriptedProvider, good, photo, png_bytes, scripted_registry

FRAMES = 20
DURATIONS = [50 + 10 * (index % 4) for index in range(FRAMES)]


@functools.cache
def film(format_name: str = "GIF", size: tuple[int, int] = (64, 48), loop: int = 0) -> bytes:
    """A 20-frame animation of a real photo panning, with a transparent corner."""
    base = np.asarray(photo((size[0] + FRAMES, size[1])))
    frames = []
    for index in range(FRAMES):
        rgba = np.dstack([base[:, index : index + size[0]], np.full(size[::-1], 255, np.uint8)])
        rgba[: size[1] // 4, : size[0] // 4, 3] = 0
        frames.append(Image.fromarray(np.ascontiguousarray(rgba)))
    options = {"GIF": {"disposal": 2}, "WEBP": {"lossless": True}, "PNG": {"disposal": 0, "blend": 0}}[format_name]
    if format_name == "GIF":
        frames = [gif_frame(np.asarray(frame)) for frame in frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format_name, save_all=True, append_images=frames[1:], duration=DURATIONS, loop=loop,
                   **options)
    return buffer.getvalue()


class TickingClock:
    """A clock that moves on by ``step`` seconds each time it is read."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_the_estimate_counts_frames_pixels_and_time_before_any_work() -> None:
    estimate = estimate_animation(film(), 2)
    assert (estimate.format, estimate.frames, estimate.size, estimate.output_size) == ("gif", 20, (64, 48), (128, 96))
    assert estimate.input_pixels == 20 * 64 * 48 and estimate.output_pixels == 20 * 128 * 96
    assert estimate.model == "waifu2x-photo" and estimate.seconds == pytest.approx(20 * 64 * 48 / 1e6 * 3.1 + 20 * 0.01)
    assert estimate.cost_usd is None
    assert estimate.describe() == "20 frames of 64x48 to 128x96 (2x): about 0.4 s with waifu2x-photo on the local tier"


def test_the_estimate_prices_a_cloud_model_per_frame_and_leaves_its_time_to_the_first_frame() -> None:
    estimate = estimate_animation(film(), 4, model="nightmareai/real-esrgan")
    assert estimate.cost_usd == pytest.approx(20 * 0.0019) and estimate.seconds is None
    assert "measured from the first frame" in estimate.describe() and "$0.0380" in estimate.describe()


@pytest.mark.parametrize("format_name", ["GIF", "WEBP", "PNG"])
def test_every_frame_is_upscaled_and_the_animation_keeps_its_format_timing_and_loop(format_name: str) -> None:
    engine = Engine(Config())
    result = enhance_animation(engine, film(format_name, loop=3), 2, provider="lanczos")
    assert result.format == format_name.lower() and result.frame_count == FRAMES
    assert (result.size, result.output_size) == ((64, 48), (128, 96))
    assert result.durations_ms == tuple(DURATIONS) and result.loop == 3
    assert [attempts[0].provider for attempts in result.attempts] == ["lanczos"] * FRAMES
    written = read_animation(result.data)
    assert written.format == format_name.lower() and written.size == (128, 96)
    assert written.durations_ms == tuple(DURATIONS) and written.loop == 3
    source = read_animation(film(format_name, loop=3))
    for before, after in zip(source.frames, written.frames, strict=True):
        assert (after.pixels[:16, :24, 3] == 0).all() and (after.pixels[32:, 44:, 3] == 255).all()  # transparency
        shrunk = np.asarray(Image.fromarray(after.pixels).resize((64, 48), Image.Resampling.BOX)).astype(int)
        visible = before.pixels[:, :, 3] == 255
        assert np.abs(shrunk[:, :, :3][visible] - before.pixels[:, :, :3][visible]).mean() < 8  # the same picture


def test_progress_is_reported_after_each_frame_with_the_time_left() -> None:
    reports: list[FrameProgress] = []
    enhance_animation(Engine(Config()), film(), 2, provider="lanczos", progress=reports.append, clock=TickingClock(1.0))
    assert [report.done for report in reports] == list(range(1, FRAMES + 1))
    assert all(report.frames == FRAMES for report in reports)
    # the clock moves 1 s a reading: started at 1, read once per frame, so frame n is seen at n + 1
    assert [report.elapsed_s for report in reports[:3]] == [1.0, 2.0, 3.0]
    assert reports[0].remaining_s == pytest.approx(19.0) and reports[-1].remaining_s == 0.0
    assert reports[4].attempts[0].provider == "lanczos"


def test_frames_times_pixels_over_the_cap_is_refused_before_any_frame_runs() -> None:
    provider = ScriptedProvider(Config(), "paid")
    engine = Engine(Config(), registry=scripted_registry(provider))
    with pytest.raises(ImageTooLarge) as error:
        enhance_animation(engine, film(), 2, provider="paid", allow_paid=True, max_frame_pixels=200_000)
    assert "20 frames of 128x96 (from 64x48 at 2x) = 245,760 pixels" in str(error.value)
    assert "200,000" in str(error.value) and "\n" not in str(error.value)
    assert provider.requests == []
    with pytest.raises(ImageTooLarge):
        estimate_animation(film(), 2, max_frame_pixels=200_000)


def test_cloud_tiers_are_refused_unless_the_caller_allows_paid_ones() -> None:
    provider = ScriptedProvider(Config(), "paid")  # it needs a token (requires): it runs in the cloud
    engine = Engine(Config(), registry=scripted_registry(provider))
    for chosen in ("paid", "auto"):
        with pytest.raises(InvalidInput) as error:
            enhance_animation(engine, film(), 2, provider=chosen)
        assert "allow_paid=True" in str(error.value) and "paid" in str(error.value)
    assert provider.requests == []
    result = enhance_animation(engine, film(), 2, provider="paid", allow_paid=True)
    assert result.frame_count == FRAMES and len(provider.requests) == FRAMES


def test_an_unconfigured_cloud_tier_in_the_chain_does_not_count_as_paid() -> None:
    engine = Engine(Config(order=("hf", "replicate", "space", "local")))  # no tokens: the engine skips them
    estimate = estimate_animation(film(size=(16, 12)), 2)
    result = enhance_animation(engine, film(size=(16, 12)), 2, provider="auto")
    assert result.frame_count == estimate.frames == FRAMES
    assert {attempts[-1].provider for attempts in result.attempts} == {"local"}


def test_cancelling_stops_between_frames() -> None:
    provider = ScriptedProvider(Config(), "paid")
    engine = Engine(Config(), registry=scripted_registry(provider))
    cancel = threading.Event()

    def stop_after_three(report: FrameProgress) -> None:
        if report.done == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        enhance_animation(engine, film(), 2, provider="paid", allow_paid=True, progress=stop_after_three, cancel=cancel)
    assert len(provider.requests) == 3


class PickingProvider(ScriptedProvider):
    """Asked for model "auto", it picks a different model for every image, as a content-based choice may."""

    def upscale(self, request: UpscaleRequest):
        output = super().upscale(request)
        if request.model == "auto":
            return type(output)(image=output.image, model=f"pick-{len(self.requests)}")
        return output


def test_a_model_chosen_per_image_is_chosen_once_for_all_frames() -> None:
    provider = PickingProvider(Config(), "paid", good, model_names=("auto", "pick-1", "pick-2"))
    engine = Engine(Config(), registry=scripted_registry(provider))
    result = enhance_animation(engine, film(), 2, provider="paid", model="auto", allow_paid=True)
    assert [request.model for request in provider.requests] == ["auto"] + ["pick-1"] * (FRAMES - 1)
    assert {attempts[0].model for attempts in result.attempts} == {"pick-1"}


def test_a_still_image_is_not_an_animation() -> None:
    with pytest.raises(InvalidInput) as error:
        enhance_animation(Engine(Config()), png_bytes(photo()), 2, provider="lanczos")
    assert "not an animation" in str(error.value)


def test_the_first_frame_stays_available_as_a_still_image() -> None:
    result = Engine(Config()).enhance(film(), 2, "lanczos")
    assert result.image.size == (128, 96)
    assert "animated GIF: only the first of 20 frames is used" in result.warnings


def test_a_20_frame_gif_through_the_real_local_tier_keeps_its_timing_and_loop() -> None:
    result = enhance_animation(Engine(Config()), film(size=(32, 24)), 2, model="waifu2x-photo")
    written = read_animation(result.data)
    assert (written.format, len(written.frames), written.size) == ("gif", FRAMES, (64, 48))
    assert written.durations_ms == tuple(DURATIONS) and written.loop == 0
    assert all(attempts[-1].provider == "local" and attempts[-1].ok for attempts in result.attempts)
    assert all((frame.pixels[:8, :12, 3] == 0).all() for frame in written.frames)  # the transparent corner
