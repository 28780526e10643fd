"""The Tiler: geometry, exactness on local functions, progress/cancel/failure, and no seams on a real model."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from skimage import data

from hdcore.providers.local.tiling import Box, Tiler, TileError


def nearest(scale: int):
    """A perfectly local tile function: every output pixel depends on one input pixel."""
    return lambda tile: np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)


def blur_then_nearest(tile: np.ndarray) -> np.ndarray:
    """Depends on a 3x3 neighbourhood (edge-replicated at the tile border): needs 1 px of context."""
    padded = np.pad(tile, ((1, 1), (1, 1)) + ((0, 0),) * (tile.ndim - 2), mode="edge")
    height, width = tile.shape[:2]
    box = sum(padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)) / 9
    return nearest(2)(box.astype(np.float32))


def random_image(height: int, width: int, channels: int | None = 3) -> np.ndarray:
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(height * 1000 + width).random(shape, dtype=np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


# --- geometry ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("height, width, size, pad", [(37, 53, 16, 3), (64, 64, 32, 8), (50, 7, 4, 20), (1, 9, 2, 2)])
def test_cores_partition_the_image_and_contexts_are_clipped(height, width, size, pad):
    tiles = Tiler(size, pad).plan(height, width)
    covered = np.zeros((height, width), dtype=int)
    for tile in tiles:
        covered[tile.core.top:tile.core.bottom, tile.core.left:tile.core.right] += 1
        context, core = tile.context, tile.core
        assert 0 <= context.top <= core.top and core.bottom <= context.bottom <= height
        assert 0 <= context.left <= core.left and core.right <= context.right <= width
        assert core.top - context.top == min(pad, core.top)  # real context, as much as the border allows
        assert context.bottom - core.bottom == min(pad, height - core.bottom)
        assert core.top % size == 0 and core.left % size == 0  # cores sit on the tile grid
    assert (covered == 1).all()

    def pieces(length: int) -> int:  # an axis that fits in one tile plus its context is not split
        return 1 if length <= size + 2 * pad else -(-length // size)

    assert len(tiles) == pieces(height) * pieces(width)


def test_zero_tile_size_and_tiles_larger_than_the_image_mean_one_tile():
    whole = Box(0, 20, 0, 30)
    for tiler in (Tiler(0, 8), Tiler(30, 8), Tiler(500, 0), Tiler(14, 8), Tiler(20, 5)):
        [tile] = tiler.plan(20, 30)  # (14, 8) and (20, 5): the image fits in one tile with its context
        assert tile.core == whole and tile.context == whole


def test_only_the_axes_longer_than_a_tile_with_context_are_split():
    assert len(Tiler(13, 8).plan(20, 30)) == 3  # 20 <= 13 + 16 stays whole; 30 is cut in three
    assert len(Tiler(8, 2).plan(12, 100)) == 13


def test_negative_settings_are_refused():
    with pytest.raises(ValueError):
        Tiler(-1, 0)
    with pytest.raises(ValueError):
        Tiler(16, -2)


# --- exactness ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("height, width, size, pad, scale", [
    (37, 53, 16, 3, 2), (37, 53, 16, 0, 3), (64, 64, 32, 8, 2), (5, 97, 8, 1, 4), (20, 30, 100, 4, 2),
])
def test_tiled_equals_untiled_for_a_pointwise_function(height, width, size, pad, scale):
    image = random_image(height, width)
    tiled = Tiler(size, pad).run(image, nearest(scale), scale)
    assert tiled.dtype == np.float32
    assert np.array_equal(tiled, nearest(scale)(image))


def test_context_makes_a_neighbourhood_function_exact_and_its_absence_shows():
    image = random_image(41, 29)
    untiled = Tiler(0).run(image, blur_then_nearest, 2)
    assert np.allclose(Tiler(8, 1).run(image, blur_then_nearest, 2), untiled, atol=1e-6)
    assert not np.allclose(Tiler(8, 0).run(image, blur_then_nearest, 2), untiled, atol=1e-6)


def test_grey_images_work_too():
    image = random_image(19, 23, channels=None)
    assert np.array_equal(Tiler(8, 2).run(image, nearest(2), 2), nearest(2)(image))


def test_one_tiler_serves_several_threads_at_once():
    tiler = Tiler(8, 2)
    images = [random_image(30 + i, 25 + 2 * i) for i in range(4)]
    results: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        results[index] = tiler.run(images[index], blur_then_nearest, 2)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, image in enumerate(images):
        assert np.allclose(results[index], Tiler(0).run(image, blur_then_nearest, 2), atol=1e-6)


# --- progress, cancellation, failures -------------------------------------------------------------------

def test_progress_is_reported_after_every_tile_and_check_runs_before_every_tile():
    events: list[tuple] = []
    Tiler(10, 2).run(random_image(25, 25), nearest(2), 2,
                     progress=lambda done, total: events.append(("progress", done, total)),
                     check=lambda: events.append(("check",)))
    assert events == [event for done in range(1, 10) for event in (("check",), ("progress", done, 9))]


def test_a_raising_check_stops_between_tiles():
    calls = []

    class Stop(Exception):
        pass

    def check() -> None:
        if len(calls) == 2:
            raise Stop

    def function(tile):
        calls.append(tile.shape)
        return nearest(2)(tile)

    with pytest.raises(Stop):
        Tiler(10, 2).run(random_image(25, 25), function, 2, check=check)
    assert len(calls) == 2


def test_a_failing_tile_raises_and_nothing_is_returned():
    count = 0

    def flaky(tile):
        nonlocal count
        count += 1
        if count == 3:
            raise RuntimeError("boom")
        return nearest(2)(tile)

    with pytest.raises(TileError, match="boom"):
        Tiler(10, 2).run(random_image(25, 25), flaky, 2)


@pytest.mark.parametrize("bad", [
    lambda tile: nearest(2)(tile)[:-1],  # one row short
    lambda tile: nearest(3)(tile),  # wrong scale
    lambda tile: nearest(2)(tile)[..., :2],  # lost a channel
])
def test_a_tile_of_the_wrong_shape_is_refused(bad):
    with pytest.raises(TileError, match="shape"):
        Tiler(10, 2).run(random_image(25, 25), bad, 2)


# --- no seams on a real model ----------------------------------------------------------------------------

def test_realesrgan_x4plus_tiled_matches_untiled_on_a_photo():
    """RRDB has a wide receptive field; 16 px of real context keeps seams invisible (>= 45 dB)."""
    from hdcore.providers.local import ncnn_runtime
    from hdcore.providers.local.families import MODELS
    from hdcore.providers.local import run_pass

    spec = MODELS["realesrgan-x4plus"]
    loaded = ncnn_runtime.load(spec, 4, 0, "cpu")
    photo = data.astronaut().astype(np.float32)[100:196, 150:246] / 255  # hair, skin, badge: 96x96
    untiled = run_pass(loaded, Tiler(0), photo)
    tiler = Tiler(48, spec.tile_pad)
    assert len(tiler.plan(96, 96)) == 4  # seams through the face
    tiled = run_pass(loaded, tiler, photo)
    assert tiled.shape == untiled.shape == (384, 384, 3)
    assert psnr(tiled, untiled) >= 45
