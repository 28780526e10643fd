"""The seed's JSON contract: what it accepts as an image is base64, a data URI or bytes, never a path."""

from __future__ import annotations

import base64
from pathlib import Path

import hdcore
from hdcore import Config, Engine
from tests.conftest import photo, png_bytes


def test_hd_image_never_opens_a_path_it_is_given(tmp_path: Path) -> None:
    engine = Engine(Config())
    existing = tmp_path / "photo.png"
    existing.write_bytes(png_bytes(photo()))
    missing = tmp_path / "phoxo.png"  # the same shape of name, but no such file
    answers = [hdcore.hd_image(str(path), 2, engine=engine, provider="lanczos") for path in (existing, missing)]
    for answer in answers:
        assert answer["success"] is False and answer["attempts"] == []
        assert "not valid base64" in answer["error"] and "file" not in answer["error"]
    assert answers[0]["error"] == answers[1]["error"]  # whether the file exists is not for the caller to learn
    as_path = hdcore.hd_image(existing, 2, engine=engine, provider="lanczos")
    assert as_path["success"] is False and "paths are not accepted" in as_path["error"]


def test_hd_image_still_upscales_base64() -> None:
    engine = Engine(Config())
    answer = hdcore.hd_image(base64.b64encode(png_bytes(photo())).decode(), 2, engine=engine, provider="lanczos")
    assert answer["success"] is True and answer["output_size"] == [128, 96]


GOOD_IMAGE = base64.b64encode(png_bytes(photo((16, 12)))).decode()
IMAGES = (GOOD_IMAGE, None, 42, 4.5, "", "   ", "data:,", "data:image/png;base64,!!!", b"", b"\x89PNG", ["x"],
          {"image": GOOD_IMAGE}, object(), float("nan"), GOOD_IMAGE * 3, Path("/etc/passwd"), "/etc/passwd")  # fmt: skip
SCALES = (2, 4, "4", None, 0, -1, 5, 4.0, 2.5, True, float("inf"), "x", [2], 10**100)
PROVIDERS = ("lanczos", None, "", "nowhere", 7, ["lanczos"], ("lanczos", None), {"lanczos": 1}, ["x"] * 3, b"hf")
OPTIONS = ({}, {"model": 3}, {"model": None}, {"fallback": "yes"}, {"progress": 5}, {"cancel": "no"},
           {"engine": "not an engine"}, {"tile": "huge"}, {"preset": ["best"]}, {"no_such_option": 1},
           {"denoise": float("nan")}, {"image": "twice"})  # fmt: skip


def contract_cases():
    """Every image with a good scale and tier, every scale with a good image, and so on: each argument's hostile
    values with the others good, then a sample of mixtures."""
    good = {"image": GOOD_IMAGE, "scale": 2, "provider": "lanczos", "options": {}}
    for name, values in (("image", IMAGES), ("scale", SCALES), ("provider", PROVIDERS), ("options", OPTIONS)):
        for value in values:
            yield {**good, name: value}
    for image, scale, provider, options in zip(IMAGES, SCALES, PROVIDERS, OPTIONS):
        yield {"image": image, "scale": scale, "provider": provider, "options": options}


def test_hd_image_answers_every_argument_combination_with_its_json_and_never_raises():
    import json

    engine = Engine(Config())
    answers = []
    for case in contract_cases():
        options = {"engine": engine, **case["options"]}
        answer = hdcore.hd_image(case["image"], case["scale"], provider=case["provider"], **options)
        json.dumps(answer, allow_nan=False)  # the seed's JSON, as it is sent
        assert isinstance(answer["success"], bool) and isinstance(answer["attempts"], list), case
        if not answer["success"]:
            assert answer["error"] and "\n" not in answer["error"] and "Traceback" not in answer["error"], case
        answers.append(answer)
    assert answers[0]["success"] is True and answers[0]["output_size"] == [32, 24]
    assert sum(answer["success"] for answer in answers) >= 5  # the good values among the hostile ones still work
    assert hdcore.hd_image()["success"] is False  # no image at all


def test_hd_image_async_answers_hostile_arguments_too():
    import asyncio

    engine = Engine(Config())
    answer = asyncio.run(hdcore.hd_image_async(GOOD_IMAGE, 2, engine=engine, provider=None, cancel="no"))
    assert answer["success"] is False and "provider" in answer["error"]


def test_an_error_no_check_foresaw_is_an_answer_without_the_token(monkeypatch):
    engine = Engine(Config.from_env({"HUGGINGFACE_TOKEN": "hf_SENTINEL_contract_4242"}))

    def broken(*args, **kwargs):
        raise OverflowError("timestamp out of range for hf_SENTINEL_contract_4242")

    monkeypatch.setattr(engine, "enhance", broken)
    answer = hdcore.hd_image(GOOD_IMAGE, 2, engine=engine)
    assert answer == {"success": False, "attempts": [],
                      "error": "unexpected OverflowError: timestamp out of range for ********"}  # fmt: skip
