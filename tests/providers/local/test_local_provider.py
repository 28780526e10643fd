"""The embedded local tier: model registry, ncnn runtime geometry, and the LocalProvider, on real photo crops.

Every family is run for real (CPU, small crops): exact sizes, pixel alignment (a Lanczos reference matches
best at offset 0, not at a shift), sane output, determinism (the ncnn.Mat ownership pitfall), thread safety,
option validation, progress per tile and cancellation between tiles.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace

import ncnn
import numpy as np
import pytest
from PIL import Image
from skimage import data

from hdcore.providers.local import openvino_runtime
from hdcore.providers.local import ncnn_runtime
from hdcore.config import Config
from hdcore.errors import Cancelled, ConfigError, InvalidInput, PermanentError, ProviderTimeout, TransientError
from hdcore.providers.local.families import MODELS, PRESETS, available_models, models_dir
from hdcore.providers.base import UpscaleRequest
from hdcore.providers.local import LocalProvider, plan_passes, run_pass
from hdcore.resize import lanczos_resize
from hdcore.providers.local.tiling import Tiler

# (model, native scale): every family and every geometry rule.
NATIVE = [
    ("realesrgan-x4plus", 4), ("realesr-animevideov3", 2), ("realesr-animevideov3", 3),
    ("realesr-animevideov3", 4), ("realcugan-se", 2), ("realcugan-se", 3), ("realcugan-se", 4),
    ("realcugan-pro", 2), ("realcugan-pro", 3), ("realcugan-nose", 2), ("waifu2x-photo", 2),
    ("waifu2x-anime", 2), ("waifu2x-cunet", 2),
]


def astronaut(top: int, left: int, height: int, width: int) -> np.ndarray:
    return data.astronaut()[top:top + height, left:left + width].astype(np.float32) / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def resize(image: np.ndarray, size: tuple[int, int], method: Image.Resampling) -> np.ndarray:
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(image[:, :, c]), "F").resize(size, method))
              for c in range(image.shape[2])]
    return np.clip(np.stack(planes, axis=2), 0, 1)


def shifted_psnr(output: np.ndarray, reference: np.ndarray, dy: int, dx: int, reach: int = 3) -> float:
    height, width = reference.shape[:2]
    return psnr(output[reach + dy:height - reach + dy, reach + dx:width - reach + dx],
                reference[reach:height - reach, reach:width - reach])


def best_offset(output: np.ndarray, reference: np.ndarray, reach: int = 2) -> tuple[int, int]:
    """The whole-pixel shift (dy, dx), within +-reach output px, at which ``output`` matches best."""
    scores = {(dy, dx): shifted_psnr(output, reference, dy, dx)
              for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)}
    return max(scores, key=scores.get)


def subpixel_shift(output: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """The misalignment (dy, dx) in output px: a parabola through the match at shifts -1, 0, +1 per axis.

    A geometry bug moves the output by whole pixels; the GAN models (x4plus, Real-CUGAN) also sit a
    model-intrinsic 0.1-0.2 px up-left of a Lanczos upscale on every image, which chained passes add up.
    """
    def vertex(minus: float, zero: float, plus: float) -> float:
        curvature = minus - 2 * zero + plus
        return 0.5 * (minus - plus) / curvature if curvature < 0 else float("inf")

    return (vertex(*(shifted_psnr(output, reference, d, 0) for d in (-1, 0, 1))),
            vertex(*(shifted_psnr(output, reference, 0, d) for d in (-1, 0, 1))))


def request(image: np.ndarray, scale: int, model: str | None = None, **options) -> UpscaleRequest:
    return UpscaleRequest(image=image, scale=scale, model=model, options=options)


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    return LocalProvider(Config().with_settings({"HDCORE_LOCAL_DEVICE": "cpu"}))


def load(name: str, scale: int, denoise: int | None = None) -> ncnn_runtime.LoadedNet:
    spec = MODELS[name]
    return ncnn_runtime.load(spec, scale, spec.default_denoise if denoise is None else denoise, "cpu")


# --- registry ---------------------------------------------------------------------------------------------

def test_registry_names_presets_and_installed_files():
    assert set(MODELS) == {
        "realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3", "realcugan-se",
        "realcugan-pro", "realcugan-nose", "waifu2x-photo", "waifu2x-anime", "waifu2x-cunet"}
    assert PRESETS == {"fast": "waifu2x-photo", "best": "realesrgan-x4plus"}
    assert MODELS[PRESETS["fast"]].kind == MODELS[PRESETS["best"]].kind == "photo"
    assert [spec.name for spec in available_models()] == list(MODELS)  # the test venv has all three wheels
    for spec in MODELS.values():
        assert spec.default_denoise in spec.denoise_levels
        assert set(spec.padding) == set(spec.native_scales)
        assert spec.tile % max(p.grid for p in spec.padding.values()) == 0


def test_denoise_levels_follow_the_upstream_files():
    assert MODELS["realcugan-se"].denoise_levels == (-1, 0, 1, 2, 3)
    assert MODELS["realcugan-se"].scales_for(1) == (2,)  # denoise1x/2x exist for 2x only
    assert MODELS["realcugan-se"].scales_for(3) == (2, 3, 4)
    assert MODELS["realcugan-nose"].denoise_levels == (0,)
    assert MODELS["waifu2x-photo"].denoise_levels == (-1, 0, 1, 2, 3)
    assert MODELS["realesrgan-x4plus"].denoise_levels == (0,)


def test_a_missing_wheel_makes_its_models_unavailable_not_a_crash(monkeypatch, provider):
    ghost = replace(MODELS["waifu2x-photo"], name="ghost-model", package="no_such_ncnn_wheel")
    monkeypatch.setitem(MODELS, "ghost-model", ghost)
    assert models_dir("no_such_ncnn_wheel") is None
    assert ghost.files(2, -1) is None and not ghost.is_available()
    assert "ghost-model" not in {info.name for info in provider.models()}
    with pytest.raises(PermanentError, match="not installed"):
        provider.upscale(request(astronaut(0, 0, 16, 16), 2, "ghost-model"))


def test_models_lists_every_installed_model_at_2_3_and_4(provider):
    infos = provider.models()
    assert [info.name for info in infos] == list(MODELS)
    assert all(info.scales == (2, 3, 4) and info.description for info in infos)
    assert provider.name == "local" and provider.label == "Local (OpenVINO / ncnn)"


def test_default_model_follows_the_preset(provider):
    assert provider.default_model(4, {}) == "budget"  # picked per image, within the time budget
    assert provider.default_model(4, {"preset": "fast"}) == "waifu2x-photo"
    assert provider.default_model(4, {"preset": "best"}) == "realesrgan-x4plus"
    assert LocalProvider(Config().with_settings({"HDCORE_LOCAL_PRESET": "best"})).default_model(2, {}) == "realesrgan-x4plus"
    with pytest.raises(InvalidInput, match="budget, fast, best"):
        provider.default_model(4, {"preset": "turbo"})


@pytest.mark.parametrize("target, natives, plan", [
    (2, (2,), (2,)), (3, (2,), (2, 2)), (4, (2,), (2, 2)), (2, (4,), (4,)), (3, (4,), (4,)),
    (4, (2, 3), (2, 2)), (3, (2, 3), (3,)), (4, (2, 3, 4), (4,)), (1, (2,), ()),
])
def test_pass_plans(target, natives, plan):
    assert plan_passes(target, natives) == plan


# --- runtime geometry: exact size and alignment ------------------------------------------------------------

@pytest.mark.parametrize("name, scale", NATIVE)
def test_native_output_is_exact_and_pixel_aligned(name, scale):
    """Odd sizes exercise the alignment padding; a shift of the output would move the best match off 0."""
    image = astronaut(90, 140, 37, 43)  # face and hair: texture in every direction
    output = ncnn_runtime.run(load(name, scale), image)
    assert output.shape == (37 * scale, 43 * scale, 3) and output.dtype == np.float32
    reference = lanczos_resize(image, (43 * scale, 37 * scale))
    assert best_offset(output, reference) == (0, 0)
    assert all(abs(shift) < 0.4 for shift in subpixel_shift(output, reference))  # measured <= 0.34 px


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_delivers_the_exact_size_at_2_3_and_4(provider, name):
    """Exact size, and alignment kept through chained passes and the final resize.

    Each GAN pass adds its intrinsic sub-pixel shift (two Real-CUGAN 2x passes: up to 0.6 px at 4x), so the
    bound is 0.4 output px per pass; a geometry bug would move the output by a whole pixel or more.
    """
    image = astronaut(90, 140, 37, 43)
    spec = MODELS[name]
    for scale in (2, 3, 4):
        output = provider.upscale(request(image, scale, name))
        assert output.image.shape == (37 * scale, 43 * scale, 3), (name, scale)
        assert output.model == name
        shift = subpixel_shift(output.image, lanczos_resize(image, (43 * scale, 37 * scale)))
        passes = plan_passes(scale, spec.scales_for(spec.default_denoise))
        assert all(abs(axis) < 0.4 * len(passes) for axis in shift), (name, scale, shift)


def test_non_native_scales_are_explained(provider):
    image = astronaut(200, 200, 24, 24)
    assert provider.upscale(request(image, 4, "waifu2x-photo")).warnings[1] == "4x reached by 2x then 2x"
    assert provider.upscale(request(image, 3, "waifu2x-photo")).warnings[1] == (
        "3x reached by 2x then 2x, Lanczos to 3x")
    assert provider.upscale(request(image, 4, "realcugan-se")).warnings == (
        f"device: openvino cpu {openvino_runtime.default_precision()} ({ncnn_runtime.default_threads()} threads)",)


# --- output quality: not garbage, better than trivial where it should be ----------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_output_is_sane(provider, name):
    """Finite, in range, same colours, and consistent: downscaling the output gives back the input."""
    image = astronaut(100, 150, 48, 48)
    output = provider.upscale(request(image, 4, name)).image
    assert np.isfinite(output).all() and output.min() >= 0 and output.max() <= 1
    assert np.abs(output.mean(axis=(0, 1)) - image.mean(axis=(0, 1))).max() < 0.04
    assert psnr(resize(output, (48, 48), Image.Resampling.BOX), image) > 24  # measured 25.9-47.8 dB


@pytest.mark.parametrize("name", ["waifu2x-photo", "waifu2x-cunet"])
@pytest.mark.parametrize("top, left", [(100, 150), (128, 128)])
def test_photo_models_beat_bicubic_against_the_original(provider, name, top, left):
    high = astronaut(top, left, 96, 96)
    low = resize(high, (48, 48), Image.Resampling.BICUBIC)
    bicubic = resize(low, (96, 96), Image.Resampling.BICUBIC)
    output = provider.upscale(request(low, 2, name)).image
    assert psnr(output, high) > psnr(bicubic, high) + 0.5  # measured +3.1 to +5.4 dB on these crops


@pytest.mark.parametrize("name", ["realesrgan-x4plus", "realcugan-se", "realcugan-pro", "realcugan-nose"])
def test_gan_models_are_sharper_than_bicubic(provider, name):
    """GAN models trade PSNR for detail; what they must beat bicubic at is sharpness (measured 1.4-1.9x)."""
    def sharpness(array: np.ndarray) -> float:
        grey = array.mean(axis=2)
        return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())

    image = astronaut(100, 150, 40, 40)
    bicubic = resize(image, (160, 160), Image.Resampling.BICUBIC)
    assert sharpness(provider.upscale(request(image, 4, name)).image) > 1.2 * sharpness(bicubic)


# --- determinism and threads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, scale", [("realcugan-se", 2), ("waifu2x-photo", 2), ("realesr-animevideov3", 4)])
def test_runs_are_identical_so_no_borrowed_memory_is_read_after_free(name, scale):
    """ncnn.Mat borrows numpy memory; if the array died before extract(), outputs would differ run to run."""
    loaded = load(name, scale)
    first = ncnn_runtime.run(loaded, astronaut(60, 60, 40, 40).copy())
    _ = [np.random.random((256, 256, 3)).astype(np.float32) for _ in range(8)]  # reuse freed memory
    second = ncnn_runtime.run(loaded, astronaut(60, 60, 40, 40).copy())
    assert np.array_equal(first, second)


@pytest.mark.parametrize("name", ["realcugan-se", "waifu2x-cunet"])
def test_two_threads_sharing_one_net_get_identical_outputs(name):
    loaded = load(name, 2)
    image = astronaut(120, 160, 48, 48)
    other = astronaut(300, 200, 40, 56)
    expected = ncnn_runtime.run(loaded, image)
    results: list[np.ndarray] = []

    def work(array: np.ndarray, into: list) -> None:
        for _ in range(3):
            into.append(ncnn_runtime.run(loaded, array))

    others: list[np.ndarray] = []
    threads = [threading.Thread(target=work, args=(image, results)),
               threading.Thread(target=work, args=(other, others))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and all(np.array_equal(result, expected) for result in results)
    assert all(np.array_equal(result, others[0]) for result in others)


def test_nets_are_loaded_once_per_file_device_and_threads():
    assert load("waifu2x-photo", 2).net is load("waifu2x-photo", 2).net
    assert load("waifu2x-photo", 2).net is not load("waifu2x-photo", 2, denoise=1).net


# --- tiling with the real models -------------------------------------------------------------------------

@pytest.mark.parametrize("name, scale, size, tile", [
    ("realesr-animevideov3", 2, 96, 48), ("realcugan-nose", 2, 96, 48), ("waifu2x-photo", 2, 96, 48),
    ("waifu2x-cunet", 2, 96, 48), ("realcugan-se", 2, 128, 64), ("realcugan-se", 3, 128, 64),
    ("realcugan-se", 4, 128, 64), ("realcugan-pro", 2, 128, 64),
])
def test_tiled_matches_untiled_for_every_family(name, scale, size, tile):
    """No visible seams: >= 45 dB. Real-CUGAN se/pro share their squeeze-excitation averages across tiles."""
    loaded = load(name, scale)
    image = astronaut(40, 120, size, size)
    untiled = run_pass(loaded, Tiler(0), image)
    tiled = run_pass(loaded, Tiler(tile, loaded.spec.tile_pad), image)
    assert psnr(tiled, untiled) >= 45


def test_se_models_without_shared_averages_would_show_seams():
    """Why the sync pass exists: tiles computing their own averages differ visibly from the untiled run."""
    loaded = load("realcugan-se", 2)
    image = astronaut(40, 120, 128, 128)
    untiled = ncnn_runtime.run(loaded, image)
    unsynced = Tiler(64, 16).run(image, lambda crop: ncnn_runtime.run(loaded, crop), 2)
    assert psnr(unsynced, untiled) < 43


# --- options -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, options, message", [
    ("no-such-model", {}, "valid: realesrgan-x4plus, "),
    ("realcugan-se", {"denoise": 5}, "denoise must be one of -1, 0, 1, 2, 3"),
    ("realcugan-nose", {"denoise": 3}, "0 only"),
    ("realesrgan-x4plus", {"denoise": 1}, "0 only"),
    ("waifu2x-photo", {"denoise": "strong"}, "denoise must be one of"),
    ("waifu2x-photo", {"denoise": 1.5}, "denoise must be one of"),
    ("waifu2x-photo", {"tile": -4}, "tile must be a whole number"),
    ("waifu2x-photo", {"tile": "big"}, "tile must be a whole number"),
    ("waifu2x-photo", {"tile": 4097}, r"tile must be a whole number from 0 to 4,096 \(0 = automatic\), not 4097$"),
    ("waifu2x-photo", {"tile": "9" * 5000}, r"tile must be a whole number from 0 to 4,096 \(0 = automatic\), not '9+…'$"),
    (None, {"preset": "turbo"}, "valid: budget, fast, best"),
])
def test_bad_options_are_invalid_input_with_the_valid_choices(provider, model, options, message):
    with pytest.raises(InvalidInput, match=message):
        provider.upscale(request(astronaut(0, 0, 16, 16), 2, model, **options))


def test_denoise_picks_another_file_and_reaches_scales_its_file_lacks(provider):
    image = astronaut(100, 150, 32, 32)
    plain = provider.upscale(request(image, 2, "realcugan-se")).image
    denoised = provider.upscale(request(image, 2, "realcugan-se", denoise=2)).image
    assert plain.shape == denoised.shape and not np.allclose(plain, denoised, atol=1e-3)
    three = provider.upscale(request(image, 3, "realcugan-se", denoise=1))  # denoise1x exists at 2x only
    assert three.image.shape == (96, 96, 3)
    assert "3x reached by 2x then 2x, Lanczos to 3x" in three.warnings


def test_tile_option_and_config_fallback_set_the_tiling(provider):
    image = astronaut(100, 150, 64, 64)
    counts: list[tuple[int, int]] = []
    provider.upscale(UpscaleRequest(image, 2, "waifu2x-photo", {"tile": "32"}, progress=lambda *c: counts.append(c)))
    assert counts[-1] == (4, 4)
    counts.clear()
    configured = LocalProvider(Config().with_settings({"HDCORE_LOCAL_DEVICE": "cpu", "HDCORE_LOCAL_TILE": "16"}))
    configured.upscale(UpscaleRequest(image, 2, "waifu2x-photo", progress=lambda *c: counts.append(c)))
    assert counts[-1] == (16, 16)
    counts.clear()
    configured.upscale(UpscaleRequest(image, 2, "waifu2x-photo", {"tile": 0}, progress=lambda *c: counts.append(c)))
    assert counts == [(1, 1)]  # 0 = the model's automatic tile (256 px): one tile


# --- progress and cancellation -------------------------------------------------------------------------------

def test_progress_counts_every_tile_of_every_pass(provider):
    counts: list[tuple[int, int]] = []
    image = astronaut(100, 150, 64, 64)
    provider.upscale(UpscaleRequest(image, 4, "waifu2x-photo", {"tile": 32}, progress=lambda *c: counts.append(c)))
    assert counts == [(done, 20) for done in range(1, 21)]  # 4 tiles at 64 px, then 16 at 128 px


def test_progress_includes_the_shared_average_pass(provider):
    counts: list[tuple[int, int]] = []
    image = astronaut(100, 150, 64, 64)
    provider.upscale(UpscaleRequest(image, 2, "realcugan-se", {"tile": 24}, progress=lambda *c: counts.append(c)))
    assert counts == [(done, 18) for done in range(1, 19)]  # 9 tiles to average, then 9 to upscale


def test_cancelling_stops_between_tiles(provider):
    counts: list[tuple[int, int]] = []
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        counts.append((done, total))
        if done == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        provider.upscale(UpscaleRequest(astronaut(100, 150, 64, 64), 2, "waifu2x-photo", {"tile": 16},
                                        progress=progress, cancel_event=cancel))
    assert counts == [(1, 16), (2, 16)]


def test_a_passed_deadline_stops_before_any_work(provider):
    with pytest.raises(ProviderTimeout):
        provider.upscale(UpscaleRequest(astronaut(0, 0, 32, 32), 2, "waifu2x-photo", deadline=0.0))


# --- device --------------------------------------------------------------------------------------------------

def test_the_device_used_is_recorded(provider):
    output = provider.upscale(request(astronaut(0, 0, 16, 16), 2, "waifu2x-photo"))
    assert output.warnings[0].startswith("device: openvino cpu ")
    assert provider.last_device == "cpu"
    on_ncnn = LocalProvider(Config().with_settings({"HDCORE_LOCAL_RUNTIME": "ncnn", "HDCORE_LOCAL_DEVICE": "cpu"}))
    output = on_ncnn.upscale(request(astronaut(0, 0, 16, 16), 2, "waifu2x-photo"))
    assert output.warnings[0] == f"device: ncnn cpu ({ncnn_runtime.default_threads()} threads)"


def test_asking_for_a_gpu_without_one_is_a_config_error():
    if ncnn_runtime.gpu_count() > 0:
        pytest.skip("this machine has a Vulkan GPU")
    with pytest.raises(ConfigError, match="no Vulkan GPU"):
        LocalProvider(Config().with_settings({"HDCORE_LOCAL_DEVICE": "gpu"})).upscale(request(astronaut(0, 0, 16, 16), 2, "waifu2x-photo"))
    assert ncnn_runtime.candidate_devices("auto") == ("cpu",)


def test_gpu_detection_keeps_ncnn_quiet_on_stderr():
    """Without libvulkan, ncnn prints 'dlopen failed' lines at C level; detection must swallow them."""
    code = "from hdcore.providers.local import ncnn_runtime; print(ncnn_runtime.gpu_count())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().isdigit()
    assert "dlopen" not in done.stderr and "vulkan" not in done.stderr.lower()


def test_auto_falls_back_to_the_cpu_when_the_gpu_cannot_run_the_net(monkeypatch):
    """Simulated GPU (this machine has none): its net loads but cannot run, so "auto" must use the CPU."""
    created = []

    def create(param, weights, device, threads):
        created.append(device)
        return ncnn.Net() if device == "gpu" else real_create(param, weights, device, threads)  # empty: fails

    real_create = ncnn_runtime._create_net
    monkeypatch.setattr(ncnn_runtime, "_nets", {})  # a private cache: nothing leaks into other tests
    monkeypatch.setattr(ncnn_runtime, "gpu_count", lambda: 1)
    monkeypatch.setattr(ncnn_runtime, "_create_net", create)
    assert ncnn_runtime.load(MODELS["waifu2x-photo"], 2, -1, "auto").device == "cpu"
    assert created == ["gpu", "cpu"]
    with pytest.raises(TransientError):  # "gpu" means the GPU or nothing
        LocalProvider(Config().with_settings({"HDCORE_LOCAL_DEVICE": "gpu"})).upscale(request(astronaut(0, 0, 16, 16), 2, "waifu2x-photo"))


def test_a_gpu_run_is_recorded_as_such(monkeypatch):
    """Simulated GPU: a CPU net stands in for it; the provider must report the device it was given."""
    real_create = ncnn_runtime._create_net
    monkeypatch.setattr(ncnn_runtime, "_nets", {})
    monkeypatch.setattr(ncnn_runtime, "gpu_count", lambda: 1)
    monkeypatch.setattr(ncnn_runtime, "_create_net",
                        lambda param, weights, device, threads: real_create(param, weights, "cpu", threads))
    local = LocalProvider(Config().with_settings({"HDCORE_LOCAL_DEVICE": "auto"}))
    output = local.upscale(request(astronaut(0, 0, 16, 16), 2, "waifu2x-photo"))
    assert output.warnings[0] == "device: ncnn gpu (Vulkan)" and local.last_device == "gpu"  # a GPU: ncnn runs


def test_without_ncnn_openvino_runs_and_without_either_the_tier_is_unconfigured_not_broken(monkeypatch):
    monkeypatch.setattr(ncnn_runtime, "ncnn", None)
    local = LocalProvider(Config().with_settings({"HDCORE_LOCAL_DEVICE": "cpu"}))
    assert local.is_configured()
    assert local.upscale(request(astronaut(0, 0, 16, 16), 2, "waifu2x-photo")).warnings[0].startswith("device: openvino")
    forced = LocalProvider(Config().with_settings({"HDCORE_LOCAL_DEVICE": "cpu", "HDCORE_LOCAL_RUNTIME": "ncnn"}))
    with pytest.raises(PermanentError, match="ncnn is not installed"):
        forced.upscale(request(astronaut(0, 0, 16, 16), 2, "waifu2x-photo"))
    monkeypatch.setattr(openvino_runtime, "ov", None)
    assert local.models() == () and not local.is_configured()


def test_without_openvino_ncnn_runs_and_says_why(monkeypatch):
    monkeypatch.setattr(openvino_runtime, "ov", None)
    local = LocalProvider(Config().with_settings({"HDCORE_LOCAL_DEVICE": "cpu"}))
    output = local.upscale(request(astronaut(0, 0, 16, 16), 2, "waifu2x-photo"))
    assert output.warnings[:2] == ("openvino is not installed: the local models run on ncnn",
                                   f"device: ncnn cpu ({ncnn_runtime.default_threads()} threads)")
    with pytest.raises(ConfigError, match="'openvino' but openvino is not installed"):
        LocalProvider(Config().with_settings({"HDCORE_LOCAL_RUNTIME": "openvino"})).placement()


def test_without_a_vulkan_loader_ncnn_is_not_even_asked(monkeypatch):
    """Asking ncnn would mean silencing fd 2 for the whole process: another thread's error could be lost."""
    def refuse() -> int:
        raise AssertionError("ncnn.get_gpu_count must not be called without a Vulkan loader")

    monkeypatch.setattr(ncnn_runtime, "_gpu_count", None)
    monkeypatch.setattr(ncnn_runtime, "_vulkan_loader_present", lambda: False)
    monkeypatch.setattr(ncnn, "get_gpu_count", refuse)
    monkeypatch.setattr(sys, "platform", "linux")
    assert ncnn_runtime.gpu_count() == 0


# --- benchmark --------------------------------------------------------------------------------------------

def test_benchmark_measures_in_a_subprocess_and_prints_a_table():
    from hdcore.providers.local.bench import format_table, run_benchmark

    rows = run_benchmark(["waifu2x-photo", "no-such-model"], sizes=[48])
    good, bad = rows
    assert good["model"] == "waifu2x-photo" and good["size"] == 48 and good["tiles"] == 1
    assert good["kpx_s"] > 0 and good["untiled_kpx_s"] > 0 and good["peak_rss_mb"] > 50
    assert "unknown model" in bad["error"]
    table = format_table(rows)
    assert table.splitlines()[0].startswith("model") and "waifu2x-photo" in table
    assert table.splitlines()[-1].startswith("no-such-model 48x48: unknown model")
