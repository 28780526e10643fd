"""hdcore.webapp.animated_page: an animated upload on the Enhance page, without Streamlit: the estimate before it
runs, the cap, the cloud tiers only on consent, every frame through the engine, and what the page shows."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from hdcore import webapp
from hdcore.config import Config
from hdcore.engine import Engine
from hdcore.errors import InvalidInput
from tests.test_animated import DURATIONS, FRAMES, film
from tests.webapp.helpers import engine_with, REPLICATE_SENTINEL


def animated_request(data: bytes | None = None, **changes) -> webapp.EnhanceRequest:
    fields = dict(data=data or film(loop=3), source_name="pan.gif", scale=2, provider="lanczos")
    fields.update(changes)
    return webapp.EnhanceRequest(**fields)


def upload_of(data: bytes, engine: Engine) -> webapp.UploadInfo:
    return webapp.inspect_upload("pan.gif", data, engine.config)


def test_an_animated_upload_is_seen_with_its_frame_count():
    upload = upload_of(film(), engine_with())
    assert upload.animation is not None and upload.animation.frames == FRAMES
    assert upload.summary.endswith("GIF · 20 frames") and upload.size == (64, 48)
    still = webapp.inspect_upload("photo.png", _still_png(), Config())
    assert still.animation is None and "frames" not in still.summary


def _still_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, "PNG")
    return buffer.getvalue()


def test_the_plan_counts_frames_and_time_with_the_model_the_local_tier_would_run():
    engine = engine_with()
    plan = webapp.plan_animation(engine, animated_request(provider="auto"), upload_of(film(), engine).animation)
    assert not plan.error and not plan.cloud_cost  # no cloud tier is configured
    assert plan.estimate.startswith("20 frames of 64x48 to 128x96 (2x): about ")
    assert "with waifu2x-photo on the local tier" in plan.estimate


def test_a_width_becomes_the_factor_the_frames_are_enlarged_by():
    assert webapp.animation_factor(webapp.OutputSize(width=160), (64, 48)) == 2.5
    assert webapp.animation_factor(webapp.OutputSize(scale=2), (64, 48)) == 2
    plan = webapp.plan_animation(engine_with(), animated_request(width=160), upload_of(film(), engine_with()).animation)
    assert plan.estimate.startswith("20 frames of 64x48 to 160x120 (2.5x)")


def test_an_animation_over_the_frames_by_pixels_cap_is_one_line_before_it_runs():
    big = _film_of(frames=60, size=(300, 300))  # 60 x 1200 x 1200 at 4x = 86.4 MP, over the 64 MP cap
    engine = engine_with()
    plan = webapp.plan_animation(engine, animated_request(big, scale=4), upload_of(big, engine).animation)
    assert plan.error.startswith("animation too large: 60 frames of 1200x1200") and "\n" not in plan.error
    outcome = webapp.run_animation(engine, animated_request(big, scale=4))
    assert not outcome.ok and outcome.error.startswith("animation too large: ")


def _film_of(frames: int, size: tuple[int, int]) -> bytes:
    images = [Image.new("RGB", size, (index * 4 % 256, 80, 160)) for index in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return buffer.getvalue()


def test_configured_cloud_tiers_are_priced_per_frame_and_left_out_until_accepted():
    engine = engine_with(REPLICATE_API_TOKEN=REPLICATE_SENTINEL)
    request = animated_request(provider="auto", scale=4)
    plan = webapp.plan_animation(engine, request, upload_of(film(), engine).animation)
    assert plan.cloud_cost == "Replicate about $0.0380 for 20 frames"  # 20 x nightmareai/real-esrgan's $0.0019
    assert engine.plan("auto") == ["hf", "fal", "replicate", "space", "local"]
    assert webapp.animation_tiers(engine, "auto", allow_paid=False) == "local"  # the auto chain's one local tier
    assert webapp.animation_tiers(engine, "auto", allow_paid=True) == "auto"
    assert webapp.animation_tiers(engine, ["replicate", "local", "lanczos"], allow_paid=False) == ["local", "lanczos"]
    with pytest.raises(InvalidInput, match="Replicate runs in the cloud and an animation is one paid call per frame"):
        webapp.animation_tiers(engine, "replicate", allow_paid=False)


def test_a_forced_cloud_tier_without_consent_is_a_one_line_error_and_nothing_is_sent():
    engine = engine_with(REPLICATE_API_TOKEN=REPLICATE_SENTINEL)
    outcome = webapp.run_animation(engine, animated_request(provider="replicate"))
    assert not outcome.ok and outcome.error.startswith("Replicate runs in the cloud") and not outcome.attempts


def test_every_frame_is_upscaled_keeping_the_format_timing_and_loop():
    engine = engine_with()
    seen = []
    source = upload_of(film(loop=3), engine)
    outcome = webapp.run_animation(engine, animated_request(), progress=seen.append, source=source)
    assert outcome.ok and outcome.error == ""
    animation = outcome.animation
    assert (animation.format, animation.frame_count, animation.output_size) == ("gif", FRAMES, (128, 96))
    with Image.open(io.BytesIO(animation.data)) as written:
        assert written.n_frames == FRAMES and written.info["loop"] == 3 and written.size == (128, 96)
        durations = []
        for index in range(FRAMES):
            written.seek(index)
            durations.append(written.info["duration"])
    assert durations == DURATIONS
    assert [webapp.frame_progress(done)[1] for done in seen][-1] == "Frame 20 of 20"
    assert webapp.frame_progress(seen[0])[1].startswith("Frame 1 of 20 · about ")
    assert outcome.download_name == "pan_x2.gif" and outcome.download[1:] == ("gif", "image/gif")
    assert outcome.output_image.size == (128, 96) and outcome.produced_by.provider == "lanczos"


def test_the_page_shows_the_animation_in_five_figures_and_one_row_per_tier():
    outcome = webapp.run_animation(engine_with(), animated_request(provider="auto"))
    figures = {figure.label: figure for figure in webapp.animation_headline(outcome)}
    assert figures["Produced by"].value == "Local" and figures["Output"].value == "128 × 96"
    assert figures["Output"].help == "20 frames of 64 × 48" and figures["File"].help == "animated GIF"
    [row] = webapp.frame_attempt_rows(outcome)  # 20 attempts, all on the local tier
    assert (row["Provider"], row["Outcome"], row["Frames"]) == ("Local", "ok", FRAMES)
    assert row["Latency (s)"] == pytest.approx(sum(a.latency_s for a in outcome.attempts), abs=0.01)
    assert webapp.animation_done_label(outcome).startswith("Done by Local (waifu2x-photo): 20 frames in ")
    slider = webapp.comparison(outcome)
    assert "Before · 64×48 · first frame" in slider.html
    assert "After · 128×96 · Local · first frame" in slider.html


def test_the_player_carries_the_file_itself_up_to_a_bound():
    outcome = webapp.run_animation(engine_with(), animated_request())
    player = webapp.animation_player(outcome)
    assert 'src="data:image/gif;base64,' in player and 'width="128" height="96"' in player
    outcome.animation.data = b"x" * (webapp.MAX_PLAYER_BYTES + 1)
    assert webapp.animation_player(outcome) is None


def test_the_animation_goes_into_the_history_as_one_run_with_every_frames_attempts(tmp_path):
    from hdcore.history import HistoryStore

    store = HistoryStore(tmp_path / "history.db")
    outcome = webapp.run_animation(engine_with(), animated_request(), source=upload_of(film(), engine_with()))
    assert webapp.record_outcome(store, outcome) is None
    [run] = store.runs()
    assert run.success and run.provider == "lanczos" and len(run.attempts) == FRAMES
    assert (run.input_size, run.scale, run.thumbnail is not None) == ((64, 48), 2, True)


def test_session_totals_count_an_animation_as_one_run():
    totals = webapp.SessionTotals()
    totals.record(webapp.run_animation(engine_with(), animated_request()))
    assert (totals.runs, totals.succeeded, totals.wins) == (1, 1, {"lanczos": 1})


def test_a_transparent_animation_keeps_its_transparency_and_no_dark_fringe():
    outcome = webapp.run_animation(engine_with(), animated_request(film("PNG"), source_name="pan.png"))
    assert outcome.animation.format == "png"
    first = np.asarray(outcome.output_image)
    assert first[:5, :5, 3].max() == 0 and first[-5:, -5:, 3].min() == 255  # the transparent corner stays clear


def test_the_notes_of_decoding_a_still_are_shown_only_when_a_still_runs():
    upload = upload_of(film(), engine_with())
    assert upload.warnings == ("animated GIF: only the first of 20 frames is used",)
    assert webapp.upload_notes(upload, every_frame=True) == ()
    assert webapp.upload_notes(upload, every_frame=False) == upload.warnings
