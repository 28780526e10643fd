"""Error answers and the bounded JSON of the file endpoint's headers."""

from __future__ import annotations

import json

from hdcore.attempts import Attempt
from hdcore.errors import AllTiersFailed, ConfigError, ImageTooLarge, InvalidImage, TransientError
from hdcore.serve.answers import bounded_json, failure, status_for, validation_reason


def test_each_error_maps_to_the_status_that_tells_the_caller_what_to_do():
    assert status_for(InvalidImage("x")) == 400 and status_for(ConfigError("unknown tier")) == 400
    assert status_for(ImageTooLarge("x")) == 413
    assert status_for(AllTiersFailed([Attempt(1, "hf", None, "error", "boom")])) == 502
    assert status_for(TransientError("x")) == 500  # never raised out of the engine: a bug if it were


def test_a_failure_is_the_seeds_json_with_one_line():
    assert failure("bad\n  thing", [{"tier": 1}]) == {"success": False, "error": "bad thing", "attempts": [{"tier": 1}]}


def test_header_json_fits_its_bound_by_shortening_texts_then_dropping_items():
    attempts = [Attempt(i, "replicate", "m", "error", "x" * 500).to_dict() for i in range(1, 21)]
    full = json.dumps(attempts)
    text = bounded_json(attempts, 2560)
    kept = json.loads(text)
    assert len(full) > 2560 >= len(text) and text.isascii()
    assert kept[-1] == {"omitted": 20 - (len(kept) - 1)} and len(kept) > 2
    assert all(len(item["reason"]) <= 80 for item in kept[:-1])
    assert json.loads(bounded_json(["caf\u00e9"], 100)) == ["caf\u00e9"]  # escaped, so a header can carry it
    assert json.loads(bounded_json(["w" * 50] * 10, 70)) == ["w" * 50, "9 more"]
    assert bounded_json([{"a": 1}], 5) == "[]"


def test_validation_problems_become_one_line_naming_the_field():
    assert validation_reason([{"type": "literal_error", "loc": ("body", "scale"), "msg": "Input should be 2, 3 or 4"},
                              {"type": "missing", "loc": ("body", "image"), "msg": "Field required"}]) \
        == "scale: Input should be 2, 3 or 4 (and 1 more)"
    assert validation_reason([{"type": "json_invalid", "loc": ("body", 9), "msg": "JSON decode error"}]) \
        == "the body is not valid JSON"
    assert validation_reason([{"type": "missing", "loc": ("body",), "msg": "Field required"}]) \
        == "the body must be a JSON object with an image"
    assert validation_reason([{"type": "model_type", "loc": (), "msg": "Input should be an object"}]) \
        == "the body must be a JSON object with an image"
