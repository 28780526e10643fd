"""Provider QA on a real photo: the table for two providers, the benchmark against a reference, failing rows."""

from __future__ import annotations

import csv
import io
import math

import pytest
from PIL import Image
from skimage import data

from hdcore import Config, Engine, InvalidInput, qa

TWO_PROVIDERS = ["local:waifu2x-photo", "lanczos"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Config())


@pytest.fixture(scope="module")
def reference() -> Image.Image:
    """A real photo (scikit-image's astronaut), 256 px: the high-resolution reference."""
    return Image.fromarray(data.astronaut()[:256, 160:416])


@pytest.fixture(scope="module")
def benchmark(engine, reference) -> list[qa.QARow]:
    return qa.compare(reference, TWO_PROVIDERS, scale=2, engine=engine, reference=True)


def test_benchmark_scores_each_provider_against_the_reference(benchmark):
    local, lanczos = benchmark
    assert [row.outcome for row in benchmark] == ["ok", "ok"]
    assert (local.provider, local.model, lanczos.model) == ("local", "waifu2x-photo", "lanczos")
    assert local.output_size == lanczos.output_size == (256, 256)
    # Measured on this crop: 34.0 dB against 32.3 (33.3 against 30.8 on the whole astronaut).
    assert local.psnr > lanczos.psnr + 1.0
    assert local.ssim > lanczos.ssim
    assert 25 < lanczos.psnr < 40 and 0.8 < lanczos.ssim < 1


def test_every_row_has_latency_cost_lr_consistency_and_sharpness(benchmark):
    for row in benchmark:
        assert row.latency_s > 0 and row.cost_usd == 0.0 and row.cost_kind == "none"
        assert 30 < row.lr_psnr < math.inf and 0.95 < row.lr_ssim <= 1 and row.sharpness > 0
    local, lanczos = benchmark
    assert local.sharpness > lanczos.sharpness  # the model restores detail Lanczos only interpolates


def test_the_table_and_the_csv(benchmark):
    table = qa.format_table(benchmark)
    lines = table.splitlines()
    assert lines[0].split() == ["provider/model", "outcome", "latency", "cost", "LR", "PSNR", "LR", "SSIM",
                                "sharpness", "PSNR", "SSIM"]
    assert lines[2].startswith("local/waifu2x-photo") and lines[3].startswith("lanczos")
    assert f"{benchmark[0].psnr:.2f} dB" in lines[2]
    rows = list(csv.DictReader(io.StringIO(qa.to_csv(benchmark))))
    assert [row["entry"] for row in rows] == TWO_PROVIDERS
    assert tuple(rows[0]) == qa.CSV_COLUMNS
    assert float(rows[0]["psnr"]) == pytest.approx(benchmark[0].psnr)


def test_a_failing_entry_is_a_row_with_its_error_and_the_others_go_on(engine, reference):
    rows = qa.compare(reference, ["nope", "local:no-such-model", "hf", "lanczos"], scale=2, engine=engine)
    assert [row.outcome for row in rows] == ["error", "error", "skipped", "ok"]
    assert "unknown provider 'nope'" in rows[0].error
    assert "no-such-model" in rows[1].error
    assert rows[2].error == "not configured (set HUGGINGFACE_TOKEN)"
    assert rows[3].psnr is None and rows[3].lr_ssim > 0.9  # no reference: no PSNR / SSIM against it
    table = qa.format_table(rows)
    assert "nope: error: unknown provider 'nope'" in table
    assert table.splitlines()[0].split()[-1] == "sharpness"  # no reference columns without a reference


def test_synchronized_crops_cut_the_same_region_of_every_output(engine, reference):
    rows = qa.compare(reference, TWO_PROVIDERS, scale=2, engine=engine)
    crops = qa.crop_all(rows, center=(0.5, 0.25), side=64)
    assert [label for label, _ in crops] == ["local/waifu2x-photo", "lanczos"]
    assert {crop.size for _, crop in crops} == {(64, 64)}
    assert qa.crop_box((512, 512), (0.5, 0.25), 64) == (224, 96, 288, 160)
    assert qa.crop_box((100, 50), (1.0, 1.0), 64) == (36, 0, 100, 50)  # kept inside a small image


def test_a_reference_too_small_for_the_scale_is_refused(engine):
    with pytest.raises(InvalidInput, match="too small"):
        qa.compare(Image.new("RGB", (3, 3)), ["lanczos"], scale=4, engine=engine, reference=True)


def test_available_entries_always_offer_the_baseline_and_the_auto_model(engine):
    entries = qa.available_entries(engine)
    assert qa.BASELINE in entries and "local:waifu2x-photo" in entries and "local:auto" in entries
    assert not any(entry.startswith("hf") for entry in entries)  # not configured here


def test_parse_entry():
    assert qa.parse_entry(" local:realesrgan-x4plus ") == ("local", "realesrgan-x4plus")
    assert qa.parse_entry("lanczos") == ("lanczos", None)
    assert qa.parse_entry("replicate:owner/model:version") == ("replicate", "owner/model:version")


def test_the_label_names_the_auto_choice(engine, reference):
    [row] = qa.compare(reference, ["local:auto"], scale=2, engine=engine)
    assert row.ok and row.model == "waifu2x-photo" and row.label == "local/waifu2x-photo (auto)"


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised():
    row = qa.QARow(entry="=cmd|' /C calc'!A0", provider="hf", model="@m", outcome="error", error="-1 +2",
                   latency_s=-0.0)  # fmt: skip
    [record] = list(csv.DictReader(io.StringIO(qa.to_csv([row]))))
    assert (record["entry"], record["model"], record["error"]) == ("'=cmd|' /C calc'!A0", "'@m", "'-1 +2")
    assert record["latency_s"] == "-0.0"  # a number is never text to neutralise
