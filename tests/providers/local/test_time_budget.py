"""The budget preset: the best model that finishes within HDCORE_LOCAL_TIME_BUDGET, from speeds measured here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage import data

from hdcore.config import Config
from hdcore.errors import ConfigError
from hdcore.providers.base import UpscaleRequest
from hdcore.providers.local import BUDGET_NOTE, OPENVINO_CACHE, TIME_BUDGET, LocalProvider, time_budget
from hdcore.providers.local.time_budget import SpeedBook, choose


def photo(height: int, width: int) -> np.ndarray:
    return data.astronaut()[60:60 + height, 150:150 + width].astype(np.float32) / 255


def local(folder, **settings) -> LocalProvider:
    return LocalProvider(Config(data_dir=str(folder)).with_settings({"HDCORE_LOCAL_DEVICE": "cpu", **settings}))


def seed(folder, provider: LocalProvider, speeds: dict[str, float]) -> None:
    """Speeds (kpx/s) per model, for this provider's runtime, written as the book's file."""
    description = provider.placement().description
    stems = {"realesrgan-x4plus": "realesrgan-x4plus", "waifu2x-photo": "models-upconv_7_photo/noise0_scale2.0x_model"}
    book = {time_budget.speed_key(stems[model], description): value for model, value in speeds.items()}
    (folder / time_budget.FILE_NAME).write_text(json.dumps(book))


# --- choosing ---------------------------------------------------------------------------------------------

def test_the_best_model_that_fits_wins_and_worse_ones_are_never_estimated():
    asked = []

    def estimate(model: str) -> float:
        asked.append(model)
        return {"best": 12.0, "fast": 1.0}[model]

    chosen = choose(["best", "fast"], estimate, 30)
    assert (chosen.model, asked) == ("best", ["best"])
    assert chosen.why == "best (time budget 30 s: about 12 s here)"


def test_a_model_over_the_budget_gives_way_and_the_note_says_what_it_would_take():
    chosen = choose(["best", "fast"], {"best": 140.0, "fast": 4.2}.__getitem__, 30)
    assert chosen.model == "fast"
    assert chosen.why == "fast (time budget 30 s: about 4.2 s here; best would take about 140 s)"


def test_when_nothing_fits_the_fastest_runs_and_says_it_is_over():
    chosen = choose(["best", "fast"], {"best": 900.0, "fast": 45.0}.__getitem__, 30)
    assert chosen.model == "fast" and chosen.why.endswith("the fastest, about 45 s here, over the budget)")


# --- the speed book ---------------------------------------------------------------------------------------

def test_speeds_are_kept_across_processes_and_follow_new_runs(tmp_path):
    book = SpeedBook(tmp_path)
    book.record("m|cpu", kilopixels=100, seconds=10)
    assert SpeedBook(tmp_path).speed("m|cpu") == 10.0  # a new process reads what the last one measured
    book.record("m|cpu", kilopixels=100, seconds=5)  # a faster run moves the figure halfway
    assert SpeedBook(tmp_path).speed("m|cpu") == 15.0
    book.record("m|cpu", kilopixels=0, seconds=0)  # nothing measured: nothing changes
    assert book.speed("m|cpu") == 15.0


@pytest.mark.parametrize("content", [
    "not json", "[1, 2]", json.dumps({"m|cpu": -3}), json.dumps({"m|cpu": "fast"}), json.dumps({"m|cpu": True}),
    json.dumps({"m|cpu": 1e300}), "{" + '"m|cpu": NaN' + "}", json.dumps({"x" * 400: 5}),
])
def test_a_hostile_or_broken_book_is_ignored_not_trusted(tmp_path, content):
    (tmp_path / time_budget.FILE_NAME).write_text(content)
    assert SpeedBook(tmp_path).speed("m|cpu") is None


def test_an_oversized_book_is_not_read(tmp_path):
    (tmp_path / time_budget.FILE_NAME).write_text(json.dumps({"m|cpu": 5}) + " " * time_budget.MAX_FILE_BYTES)
    assert SpeedBook(tmp_path).speed("m|cpu") is None


def test_one_process_keeps_one_book_per_folder(tmp_path):
    assert time_budget.book_for(tmp_path) is time_budget.book_for(str(tmp_path) + "/.")
    assert time_budget.book_for(tmp_path) is not time_budget.book_for(tmp_path / "other")


def test_a_data_folder_that_cannot_be_written_keeps_the_figures_in_memory(tmp_path):
    (tmp_path / "taken").write_text("a file where the data folder's parent should be")
    book = SpeedBook(tmp_path / "taken" / "data")
    book.record("m|cpu", kilopixels=50, seconds=5)
    assert book.speed("m|cpu") == 10.0


# --- the preset, on the real models -----------------------------------------------------------------------

def test_where_x4plus_runs_fast_enough_the_default_is_x4plus_and_the_run_refreshes_its_speed(tmp_path):
    provider = local(tmp_path)
    seed(tmp_path, provider, {"realesrgan-x4plus": 1000.0, "waifu2x-photo": 2000.0})
    output = provider.upscale(UpscaleRequest(photo(40, 48), 4))
    assert output.model == "realesrgan-x4plus"
    assert output.warnings[0].startswith(BUDGET_NOTE + "realesrgan-x4plus (time budget 30 s: about ")
    refreshed = json.loads((tmp_path / time_budget.FILE_NAME).read_text())
    x4plus = next(value for key, value in refreshed.items() if key.startswith("realesrgan-x4plus|"))
    assert x4plus < 1000.0  # no CPU here runs x4plus at 1,000 kpx/s: the real run pulled the figure down


def test_where_x4plus_is_too_slow_for_the_budget_waifu2x_runs_and_the_note_says_why(tmp_path):
    provider = local(tmp_path, HDCORE_LOCAL_TIME_BUDGET="30")
    seed(tmp_path, provider, {"realesrgan-x4plus": 0.01, "waifu2x-photo": 2000.0})
    output = provider.upscale(UpscaleRequest(photo(40, 48), 4))
    assert output.model == "waifu2x-photo"
    assert "realesrgan-x4plus would take about" in output.warnings[0]


def test_fast_and_best_still_force_their_model_whatever_the_speeds(tmp_path):
    provider = local(tmp_path)
    seed(tmp_path, provider, {"realesrgan-x4plus": 0.01, "waifu2x-photo": 2000.0})
    best = provider.upscale(UpscaleRequest(photo(16, 16), 2, options={"preset": "best"}))
    assert best.model == "realesrgan-x4plus" and not best.warnings[0].startswith(BUDGET_NOTE)
    assert local(tmp_path, HDCORE_LOCAL_PRESET="fast").upscale(UpscaleRequest(photo(16, 16), 2)).model == "waifu2x-photo"


def test_a_machine_with_no_figures_measures_the_best_model_once_and_keeps_it(tmp_path):
    provider = local(tmp_path)
    output = provider.upscale(UpscaleRequest(photo(24, 24), 4))
    assert output.model == "realesrgan-x4plus"  # 2.3 kpx: seconds on any CPU here
    book = json.loads((tmp_path / time_budget.FILE_NAME).read_text())
    assert [key.split("|")[0] for key in book] == ["realesrgan-x4plus"]  # waifu2x was never needed
    assert all(0 < value < time_budget.MAX_KPX_S for value in book.values())


def test_the_budget_is_a_number_of_seconds():
    with pytest.raises(ConfigError, match="HDCORE_LOCAL_TIME_BUDGET"):
        Config().with_settings({"HDCORE_LOCAL_TIME_BUDGET": "0"})
    assert local("unused", HDCORE_LOCAL_TIME_BUDGET="90").config.get(TIME_BUDGET) == 90.0


def test_openvino_keeps_its_compiled_models_in_the_data_folder(tmp_path):
    provider = local(tmp_path, HDCORE_LOCAL_PRESET="fast", HDCORE_LOCAL_RUNTIME="openvino")
    provider.upscale(UpscaleRequest(photo(16, 16), 2))
    assert any((tmp_path / OPENVINO_CACHE).iterdir())
