"""The app driven by AppTest with text from outside: an upload's name, a zip's member names and a server's
error text written as markdown, HTML, icons and maths are shown as exactly that text on every page."""

from __future__ import annotations

import io
import json
import zipfile

from streamlit.testing.v1 import AppTest

from tests.app.test_app import (  # noqa: F401  (isolated: no tokens from the machine, a temporary history)
    HF_SENTINEL, attempts_rows, choose, enhance, isolated, markdown_texts, metrics, shown, started_app, upload,
)
from tests.conftest import photo, png_bytes
from tests.servers.hostile import HostileState, hostile_server
from tests.webapp.streamlit_markdown import rendered


HOSTILE_TEXT = "![x](http://127.0.0.1:9/x.png) [click](http://evil.example) :material/home: $x$ _u_ www.evil.example"


def all_markdown(app: AppTest) -> list[str]:
    """Every markdown string of the page: alerts, captions, markdown, and the labels of statuses, expanders,
    buttons and progress bars."""
    texts = [element.value for kind in ("error", "warning", "info", "success", "caption", "markdown")
             for element in getattr(app, kind)]  # fmt: skip
    texts += [block.label for block in app.get("status")] + [block.label for block in app.get("expander")]
    texts += [button.label for button in app.button] + [bar.proto.text for bar in app.get("progress")]
    return texts


def assert_all_text(app: AppTest) -> str:
    """No element of the page renders a link, an image, HTML, an icon or maths from outside; returns the text."""
    shown = []
    for markdown in all_markdown(app):
        page = rendered(markdown)
        if "http" in page.text or "![" in page.text or "$x$" in page.text:  # outside text is in this one
            assert page.elements == [], (markdown, page.elements)
        shown.append(page.text)
    return "\n".join(shown)


def test_a_hostile_upload_name_is_shown_as_text():
    app = started_app()
    name = HOSTILE_TEXT + ".png"
    upload(app, name, b"not a picture at all")
    [error] = app.error
    assert shown(error).startswith(name + ": ") and rendered(error.value).elements == []
    assert_all_text(app)


def test_hostile_zip_member_names_are_shown_as_text_in_warnings_and_failures():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(HOSTILE_TEXT + ".txt", "not an image")
        archive.writestr("[click](http://evil.example).doc", "not an image")
        archive.writestr(HOSTILE_TEXT + ".png", "a broken image")
        archive.writestr("good.png", png_bytes(photo((12, 10))))
    app = started_app("pages/batch.py")
    choose(app, "Provider", "lanczos")
    app.file_uploader[0].set_value([("![zip](http://127.0.0.1:9/z.png).zip", buffer.getvalue(), "application/zip")])
    app.run()
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception
    text = assert_all_text(app)  # names as the batch made them safe (no ":", no "//"), shown as text
    assert "![zip](http_/127.0.0.1_9/z.png).zip: 2 other files left out (not images): ![x](http_/" in text
    assert "[click](http_/evil.example).doc" in text
    [failure] = app.error
    assert shown(failure).startswith("![x](http_/127.0.0.1_9/x.png) [click](http_/evil.example) _material")
    assert metrics(app)["Enhanced"] == "1"


def test_a_servers_error_text_is_shown_as_text_in_the_probe_the_run_and_the_batch(monkeypatch):
    state = HostileState(status=400, body=json.dumps({"error": HOSTILE_TEXT}), content_type="application/json")
    with hostile_server(state) as server:
        monkeypatch.setenv("HUGGINGFACE_TOKEN", HF_SENTINEL)
        monkeypatch.setenv("HDCORE_HF_BASE_URL", server.url)
        app = started_app("pages/providers.py")
        next(button for button in app.button if button.key == "probe-hf").click().run()
        [error] = app.error
        assert "[click](http://evil.example)" in shown(error) and rendered(error.value).elements == []
        assert_all_text(app)

        app.switch_page("pages/enhance.py")
        app.run()
        upload(app, "astronaut.png", png_bytes(photo((32, 24))))
        app.radio[0].set_value(2)
        enhance(app)  # Hugging Face answers with the hostile text, then the local tier delivers
        assert attempts_rows(app)[-1]["Outcome"] == "ok"
        assert "[click](http://evil.example)" in " ".join(markdown_texts(app))  # the narration shows it...
        assert_all_text(app)  # ...as text

        app.switch_page("pages/batch.py")
        app.run()
        choose(app, "Provider", "hf")
        app.file_uploader[0].set_value([("a.png", png_bytes(photo((16, 12))), "image/png")])
        app.run()
        app.button[0].click()
        app.run()
        [failure] = app.error
        assert "[click](http://evil.example)" in shown(failure) and rendered(failure.value).elements == []
        assert_all_text(app)
