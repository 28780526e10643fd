"""The Streamlit page driven by AppTest: upload, enhance, the attempts table, bad uploads."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import photo, png_bytes

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def started_app() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=240)
    app.run()
    assert not app.exception
    return app


def upload(app: AppTest, name: str, data: bytes, mime: str = "image/png") -> None:
    app.file_uploader[0].set_value((name, data, mime))
    app.run()


def enhance(app: AppTest) -> None:
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception


def attempts_rows(app: AppTest) -> list[dict]:
    return app.dataframe[0].value.to_dict("records")


def test_page_asks_for_an_upload_first():
    app = started_app()
    assert app.title[0].value == "HD Enhance"
    assert "Upload" in app.info[0].value
    assert [option for option in app.selectbox[0].options][0].startswith("Auto (")


@pytest.mark.parametrize("provider, expected", [("lanczos", "lanczos"), ("auto", "local")])
def test_upload_and_enhance_shows_the_image_and_attempts(provider, expected):
    app = started_app()
    upload(app, "astronaut.png", png_bytes(photo((32, 24))))
    app.radio[0].set_value(2)
    app.selectbox[0].set_value(provider)
    app.run()
    enhance(app)
    rows = attempts_rows(app)
    assert rows[-1]["provider"] == expected and rows[-1]["outcome"] == "ok"
    shown = app.get("image")
    assert len(shown) == 1
    assert shown[0].proto.imgs[0].caption.startswith("64 × 48, ")
    assert not app.error


def test_bad_upload_gets_a_one_line_error():
    app = started_app()
    upload(app, "notes.png", b"this is plain text, not a picture", "image/png")
    enhance(app)
    assert len(app.error) == 1
    message = app.error[0].value
    assert "text" in message and "\n" not in message
