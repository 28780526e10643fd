"""The Replicate tier's catalogue against our Replicate API on 127.0.0.1: each model addressed the way Replicate
wants it (official models by name, community ones by version), sent the inputs its schema takes (the server
refuses anything else with 422, as Replicate does), fitted to the exact size, and priced as it is billed."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from hdcore import Config, ConfigError
from hdcore.attempts import Cost
from hdcore.prices import ModelPrice, PriceTable
from hdcore.providers.replicate import ReplicateProvider
from hdcore.providers.replicate.transport import PredictionState, cancel_after_value
from tests.providers.test_replicate import SYNC_TIER, config_for, direct_request, engine_for, image, replicate_attempt
from tests.servers.replicate_server import (
    CLARITY,
    CLARITY_VERSION,
    GOOGLE_UPSCALER,
    OLD_REFINER,
    RECRAFT_CRISP,
    REFINER,
    REFINER_VERSION,
    SWINIR,
    SWINIR_VERSION,
    TOKEN,
    TOPAZ,
    ReplicateServer,
)


@pytest.fixture
def server():
    with ReplicateServer() as running:
        yield running


@pytest.fixture(autouse=True)
def every_log_line(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def only_create(server: ReplicateServer) -> tuple[str, dict[str, Any]]:
    (create,) = server.state.creates()
    return create.path, json.loads(create.body)


# ------------------------------------------------------------------------------------------ official models


@pytest.mark.parametrize(
    ("model", "scale", "inputs", "size", "warnings"),
    [
        (RECRAFT_CRISP, 4, {"image"}, (64, 48), []),  # the fixed scale (4x here) happens to be the one asked
        (RECRAFT_CRISP, 2, {"image"}, (32, 24), ["Replicate returned 64x48; resized to 32x24"]),
        (TOPAZ, 2, {"image", "enhance_model", "upscale_factor", "output_format", "face_enhancement"}, (32, 24), []),
        (TOPAZ, 3, {"image", "enhance_model", "upscale_factor", "output_format", "face_enhancement"}, (48, 36), []),
        (GOOGLE_UPSCALER, 4, {"image", "upscale_factor"}, (64, 48), []),
    ],
)
def test_an_official_model_is_created_by_name_with_its_schema_inputs(server, model, scale, inputs, size, warnings):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=scale, model=model)

    path, body = only_create(server)
    assert path == f"/v1/models/{model}/predictions" and "version" not in body
    assert set(body["input"]) == inputs
    assert (result.provider, result.model, result.image.size, result.warnings) == ("replicate", model, size, warnings)
    assert f"/v1/models/{model}" not in server.state.paths("GET")  # no version lookup for an official model
    assert server.state.creates()[0].headers["Cancel-After"] == "9s"


def test_topaz_is_asked_for_its_own_factor_and_face_recovery(server):
    engine_for(server, SYNC_TIER).enhance(image(), scale=3, model=TOPAZ, face_enhance=True)

    _, body = only_create(server)
    assert body["input"] == {"image": body["input"]["image"], "enhance_model": "Standard V2", "upscale_factor": "4x",
                             "output_format": "png", "face_enhancement": True}  # fmt: skip


def test_google_upscaler_takes_x2_or_x4(server):
    engine_for(server, SYNC_TIER).enhance(image(), scale=3, model=GOOGLE_UPSCALER)

    assert only_create(server)[1]["input"]["upscale_factor"] == "x4"


def test_a_pinned_official_model_is_created_by_version(server):
    pinned = f"{RECRAFT_CRISP}:{server.state.models[RECRAFT_CRISP]['version']}"
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=4, model=pinned)

    path, body = only_create(server)
    assert (path, body["version"]) == ("/v1/predictions", server.state.models[RECRAFT_CRISP]["version"])
    assert result.provider == "replicate"


# ----------------------------------------------------------------------------------------- community models


def test_clarity_gets_its_latest_version_and_its_schema_inputs(server):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=3, model=CLARITY, creativity=0.5, prompt="sharp")

    path, body = only_create(server)
    assert (path, body["version"]) == ("/v1/predictions", CLARITY_VERSION)
    assert body["input"] == {"image": body["input"]["image"], "scale_factor": 3, "creativity": 0.5,
                             "resemblance": 0.6, "output_format": "png", "prompt": "sharp"}  # fmt: skip
    assert (result.provider, result.image.size, result.warnings) == ("replicate", (48, 36), [])  # its list output


def test_clarity_resemblance_takes_its_own_range(server):
    engine_for(server, SYNC_TIER).enhance(image(), scale=2, model=CLARITY, resemblance=2.5)

    assert only_create(server)[1]["input"]["resemblance"] == 2.5


def test_refiner_gets_its_schema_inputs_and_its_square_answer_is_resized_with_a_warning(server):
    result = engine_for(server, SYNC_TIER).enhance(image((32, 32)), scale=4, model=REFINER, creativity=0.4)

    _, body = only_create(server)
    assert body["version"] == REFINER_VERSION
    assert body["input"]["resolution"] == "1024"
    assert (body["input"]["resemblance"], body["input"]["creativity"]) == (0.75, 0.4)
    assert (result.provider, result.image.size) == ("replicate", (128, 128))
    assert result.warnings == ["Replicate returned 1024x1024; resized to 128x128"]


def test_refiner_square_answer_for_a_wide_input_is_bad_output(server):
    result = engine_for(server, SYNC_TIER).enhance(image(), scale=2, model=REFINER)

    attempt = replicate_attempt(result)
    assert (attempt.outcome, result.provider) == ("error", "lanczos")
    assert attempt.reason == "output is 1024x1024, not the shape of the 16x12 input"


# ---------------------------------------------------------------------------------------- moved models


def test_the_refiners_old_name_runs_the_model_at_its_new_owner(server):
    result = engine_for(server, SYNC_TIER).enhance(image((32, 32)), scale=4, model=OLD_REFINER)

    assert only_create(server)[1]["version"] == REFINER_VERSION
    assert f"/v1/models/{REFINER}" in server.state.paths("GET")  # the old owner's name is never asked for
    assert not any(OLD_REFINER in path for path in server.state.paths())
    assert (result.provider, result.model) == ("replicate", REFINER)


def test_a_configured_alias_maps_a_moved_model(server):
    engine = engine_for(server, SYNC_TIER, HDCORE_REPLICATE_MODEL_ALIASES=json.dumps({"someone/swin": SWINIR}))
    result = engine.enhance(image(), scale=2, model="someone/swin")

    assert only_create(server)[1]["version"] == SWINIR_VERSION and result.model == SWINIR


@pytest.mark.parametrize("raw", ['["a/b"]', '{"a/b": 3}', '{"not a model": "a/b"}', "{"])
def test_an_unusable_alias_table_is_a_one_line_config_error(raw):
    with pytest.raises(ConfigError, match="HDCORE_REPLICATE_MODEL_ALIASES must be a JSON object of model names"):
        Config().with_settings({"HDCORE_REPLICATE_MODEL_ALIASES": raw})


def test_versioned_and_old_model_names_are_served():
    provider = ReplicateProvider(Config().with_settings({"REPLICATE_API_TOKEN": TOKEN}))

    assert provider.serves(f"{SWINIR}:{SWINIR_VERSION}") and provider.serves(SWINIR) and provider.serves(OLD_REFINER)
    assert provider.scales(f"{SWINIR}:{SWINIR_VERSION}") == (2, 3, 4)
    assert provider.options_for(OLD_REFINER)[0].name == "prompt"
    assert not provider.serves("someone/else") and not provider.serves(f"{SWINIR}:")


# ----------------------------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("model", "size", "scale", "reason"),
    [
        (RECRAFT_CRISP, (4097, 100), 2, f"input 4097x100 is over {RECRAFT_CRISP}'s limit of 4096 px a side; not sent"),
        (GOOGLE_UPSCALER, (2100, 2100), 2,
         f"2x would make 17,640,000 px, over {GOOGLE_UPSCALER}'s output limit of 17,000,000"),
        (CLARITY, (3300, 3300), 4, f"4x would make 174,240,000 px, over {CLARITY}'s output limit of 169,000,000"),
    ],
)
def test_each_model_declares_its_own_limits(model, size, scale, reason):
    provider = ReplicateProvider(Config())

    assert provider.preflight(model, size, scale) == reason
    assert provider.preflight(model, (1000, 1000), 2) == ""


def test_skip_reason_names_the_tiers_limit_before_anything_runs():
    provider = ReplicateProvider(Config().with_settings({"REPLICATE_API_TOKEN": TOKEN}))

    assert provider.skip_reason((2560, 1440), 4) == ""
    assert "4000x3000 exceeds Replicate's input limit of 3,686,400 px" in provider.skip_reason((4000, 3000), 2)


# ------------------------------------------------------------------------------------------------ prices


def test_estimates_follow_each_models_price_model():
    provider = ReplicateProvider(Config())

    assert provider.estimate_cost("nightmareai/real-esrgan", (1000, 1000), 2) == Cost(0.0019, "estimated")
    assert provider.estimate_cost(CLARITY, (1000, 1000), 2) == Cost(0.015, "estimated")
    assert provider.estimate_cost(RECRAFT_CRISP, (1000, 1000), 2) == Cost(0.006, "estimated")
    assert provider.estimate_cost(TOPAZ, (1000, 1000), 4).usd == pytest.approx(0.05)  # 16 MP: one 24 MP block
    assert provider.estimate_cost(TOPAZ, (2000, 1500), 4).usd == pytest.approx(0.10)  # 48 MP: two
    assert provider.estimate_cost(TOPAZ, (2000, 1500), 3).usd == pytest.approx(0.10)  # 3x is asked as 4x
    assert provider.estimate_cost(OLD_REFINER, (512, 512), 2) == Cost(0.02, "estimated")


def test_official_models_cost_their_price_and_time_billed_ones_their_predict_time(server):
    crisp = engine_for(server, SYNC_TIER).enhance(image(), scale=4, model=RECRAFT_CRISP)
    clarity = engine_for(server, SYNC_TIER).enhance(image(), scale=2, model=CLARITY)

    assert (replicate_attempt(crisp).cost_kind, replicate_attempt(crisp).cost_usd) == ("estimated", 0.006)
    assert replicate_attempt(clarity).cost_kind == "measured"
    assert replicate_attempt(clarity).cost_usd == pytest.approx(1.8 * 0.000975)  # predict_time on an L40S


@pytest.mark.parametrize(
    ("overrides", "model", "expected"),
    [
        ({"run:nightmareai/real-esrgan": 0.5}, "nightmareai/real-esrgan", 0.5),  # the keys of before, kept
        ({"replicate:nightmareai/real-esrgan": 0.5}, "nightmareai/real-esrgan", 0.5),
        ({"replicate:run:nightmareai/real-esrgan": 0.5}, "nightmareai/real-esrgan", 0.5),
        ({"replicate:run:batouresearch/magic-image-refiner": 0.3}, REFINER, 0.3),  # an old name prices the new
        ({"replicate:megapixel:" + CLARITY: 0.01}, CLARITY, 0.04),  # a unit of one's own: 4 MP at $0.01
        ({"fal:nightmareai/real-esrgan": 0.5}, "nightmareai/real-esrgan", 0.0019),  # another provider's key
        ({"replicate:run:someone/new": 0.07}, "someone/new", 0.07),
    ],
)
def test_price_overrides_are_namespaced_by_provider(overrides, model, expected):
    provider = ReplicateProvider(Config(prices=overrides))

    assert provider.prices.estimate(model, 4_000_000).usd == pytest.approx(expected)


def test_hardware_overrides_change_the_measured_cost():
    for key in ("second:gpu-t4", "replicate:gpu-t4", "replicate:second:gpu-t4"):
        table = ReplicateProvider(Config(prices={key: 0.001})).prices
        assert table.measured("nightmareai/real-esrgan:abc", 2.0) == Cost(pytest.approx(0.002), "measured")
    assert PriceTable().measured(SWINIR, None) == Cost(0.01, "estimated")  # no predict_time: the estimate
    assert PriceTable().estimate("someone/else") == Cost()


def test_price_rows_show_estimates_and_hardware():
    rows = {row["Item"]: row for row in ReplicateProvider(Config()).price_rows()}

    assert rows["nightmareai/real-esrgan"]["Unit"] == "per run (estimate)"
    assert rows["nightmareai/real-esrgan"]["Note"].startswith("measured from predict_time on gpu-t4")
    assert rows[TOPAZ]["Unit"] == "per started 24 MP of output" and rows[TOPAZ]["USD"] == 0.05
    assert rows[RECRAFT_CRISP]["Unit"] == "per run"
    assert rows["gpu-l40s"] == {"Item": "gpu-l40s", "Unit": "per second (measured)", "USD": 0.000975,
                                "Note": CLARITY}  # fmt: skip


def test_a_block_price_counts_started_blocks():
    price = ModelPrice("block", 0.08, block_mp=24)

    assert [price.for_output(mp * 1_000_000) for mp in (1, 24, 25, 96, 97)] == pytest.approx(
        [0.08, 0.08, 0.16, 0.32, 0.40])


# --------------------------------------------------------------------------------------------- the wire


def test_cancel_after_is_whole_seconds_rounded_up():
    assert [cancel_after_value(s) for s in (0.0, 0.2, 6.49, 35.0, 35.01)] == ["1s", "1s", "7s", "35s", "36s"]


@pytest.mark.parametrize(
    "answer",
    [[], {"id": "../../x", "status": "starting"}, {"id": "abc", "status": "exploded"}, {"status": "succeeded"}],
)
def test_an_unusable_prediction_answer_is_refused_at_the_edge(answer):
    with pytest.raises(ValueError):
        PredictionState.from_json(answer)


def test_an_aborted_prediction_is_read_although_the_sdk_cannot_hold_it():
    state = PredictionState.from_json({"id": "p1", "status": "aborted", "metrics": {"predict_time": float("inf")}})

    assert (state.status, state.predict_time) == ("aborted", None)


def test_the_prediction_id_is_all_a_poll_sends(server):
    server.state.honour_wait = False
    ReplicateProvider(config_for(server, SYNC_TIER)).upscale(direct_request(SYNC_TIER))

    (prediction_id,) = server.state.predictions
    assert set(server.state.paths("GET")) - {f"/files/{prediction_id}.png"} == {f"/v1/predictions/{prediction_id}"}
