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
