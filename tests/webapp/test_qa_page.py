"""hdcore.webapp, the QA page: entries, a comparison, its table and crops; tested without Streamlit."""

from __future__ import annotations



from hdcore import webapp
from tests.conftest import photo, png_bytes
from tests.webapp.helpers import engine_with


# ------------------------------------------------------------------------------------------------- QA


def test_qa_entries_labels_and_defaults():
    engine = engine_with()
    options = webapp.qa_entry_options(engine)
    assert options[0] == "lanczos" and "local:auto" in options and "local:waifu2x-photo" in options
    assert not any(entry.startswith("hf") for entry in options)  # not configured: nothing to compare
    assert webapp.qa_default_entries(engine) == ["lanczos", "local"]
    assert webapp.qa_entry_label("lanczos") == "Lanczos (baseline)"
    assert webapp.qa_entry_label("local") == "Local (default model)"
    assert webapp.qa_entry_label("local:auto") == "Local · Auto (picked from the image)"


def test_run_qa_rows_charts_crops_and_failures():
    engine = engine_with()
    outcome = webapp.run_qa(engine, png_bytes(photo((64, 48))), ["lanczos", "nowhere"], 2, source_name="a b.png")
    assert outcome.error == "" and [row.ok for row in outcome.rows] == [True, False]
    table = webapp.qa_table_rows(outcome.rows)
    assert table[0]["Output"] == "128 × 96" and "PSNR (dB)" not in table[0]
    assert table[1]["Outcome"] == "error" and "nowhere" in table[1]["Notes"]
    assert [bar["Provider / model"] for bar in webapp.qa_chart_rows(outcome.rows, "Sharpness")] == ["lanczos"]
    crops, box = webapp.qa_crops(outcome, (1.0, 1.0), side=32)
    assert [label for label, _ in crops] == ["lanczos"] and crops[0][1].size == (32, 32) and box == (96, 64, 128, 96)
    assert outcome.csv_name == "a_b_x2_qa.csv"
    assert webapp.qa_charts(outcome) == ["LR-PSNR (dB)", "Sharpness"]


def test_run_qa_benchmark_and_errors():
    engine = engine_with()
    outcome = webapp.run_qa(engine, png_bytes(photo((64, 48))), ["lanczos"], 2, reference=True)
    [row] = webapp.qa_table_rows(outcome.rows)
    assert row["PSNR (dB)"] > 20 and 0 < row["SSIM"] <= 1 and outcome.csv_name.endswith("_benchmark.csv")
    assert webapp.qa_charts(outcome) == ["PSNR (dB)", "SSIM"]
    assert webapp.run_qa(engine, b"junk", ["lanczos"], 2).error  # one line, no exception
    assert webapp.run_qa(engine, png_bytes(photo((3, 3))), ["lanczos"], 4, reference=True).error
    assert webapp.run_qa(engine, png_bytes(photo()), [], 2).error == "choose at least one provider"


