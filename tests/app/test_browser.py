"""The app in a real browser: `streamlit run` on 127.0.0.1 driven by headless Chromium through Playwright.

Upload a photo, click Enhance, wait for the comparison slider, drag it (and move it with the keyboard), download
the file and check its pixel size; screenshots of each page land in artifacts/ (ignored by git) for people to look
at. Chromium is Debian's (`apt-get install chromium`, done by .ci/run), driven by PyPI's playwright; nothing is
downloaded by `playwright install`.

Without /usr/bin/chromium these tests fail with that reason: the README's test command installs it.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from tests.conftest import photo, png_bytes

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = os.environ.get("HDCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]  # fmt: skip
SLIDER = 'iframe[title="Before and after comparison slider"]'
CROPS = 'iframe[title="The same crop of every output, zoomed together"]'
STEP_MS = 90_000  # generous: CI machines are shared
PHOTO_SIZE = (160, 120)  # enhanced 4x by the local tier's default (x4plus within the budget) in about 2 s

from playwright.sync_api import Page, expect, sync_playwright


@pytest.fixture(scope="module", autouse=True)
def chromium_is_installed() -> None:
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: apt-get install chromium (the README's test command does)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """`streamlit run` on a free 127.0.0.1 port, headless, no usage stats, a temporary data folder, no tokens."""
    data_dir = tmp_path_factory.mktemp("data")
    env = {k: v for k, v in os.environ.items() if k not in ("HUGGINGFACE_TOKEN", "REPLICATE_API_TOKEN", "HDCORE_SPACE")}
    env.update(HDCORE_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "streamlit-server.log").open("w+")  # kept for people to read after a failure
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.seek(0)
        output = log.read()
        log.close()
        assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(STEP_MS)
    requests: list[str] = []
    opened.on("request", lambda request: requests.append(request.url))
    opened.requests = requests  # every URL the page asked for
    yield opened
    context.close()


def only_local(urls: list[str], app_url: str) -> list[str]:
    """The requests that went anywhere but the app itself (data: and blob: URLs never leave the page)."""
    host = urlparse(app_url).netloc
    return [u for u in urls if urlparse(u).scheme not in ("data", "blob", "about") and urlparse(u).netloc != host]


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="HD Enhance")).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its main container, so the viewport grows to fit it first."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    height = page.evaluate(
        "() => { const block = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
        " return block.getBoundingClientRect().top + block.scrollHeight; }"
    )
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(max(int(height) + 40, 900), 8000)})
    page.wait_for_timeout(500)  # let the charts and data grids redraw at the new size
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def stage_position(page: Page) -> float:
    return float(page.frame_locator(SLIDER).locator("#compare").get_attribute("data-position"))


def test_upload_enhance_compare_download(page: Page, app_url: str, tmp_path: Path):
    source = tmp_path / "astronaut.png"
    source.write_bytes(png_bytes(photo(PHOTO_SIZE)))
    open_app(page, app_url)

    page.locator('input[type="file"]').set_input_files(source)
    enhance = page.get_by_role("button", name="Enhance")
    expect(enhance).to_be_enabled()
    enhance.click()

    # The slider arrives with the run's status; the divider starts in the middle.
    stage = page.frame_locator(SLIDER).locator("#compare")
    expect(stage).to_be_visible(timeout=STEP_MS)  # the run itself: seconds on a busy machine
    expect(page.get_by_text("Done by Local (realesrgan-x4plus)")).to_be_visible()
    # With no token, the default runs Real-ESRGAN x4plus where this CPU finishes the photo within the budget,
    # and says so as the model choice.
    expect(page.get_by_text(re.compile(r"budget model: realesrgan-x4plus \(time budget 30 s: about"))).to_be_visible()
    assert stage_position(page) == pytest.approx(50, abs=0.5)
    images = page.frame_locator(SLIDER).locator("img")
    expect(images).to_have_count(2)
    for index in range(2):
        assert images.nth(index).get_attribute("src").startswith("data:image/")
        assert images.nth(index).evaluate("img => img.complete && img.naturalWidth > 0")

    # Drag the divider to a fifth of the width, then nudge it with the keyboard.
    stage.scroll_into_view_if_needed()
    box = stage.bounding_box()
    assert box and box["width"] > 300
    middle_y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, middle_y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.35, middle_y, steps=4)
    page.mouse.move(box["x"] + box["width"] * 0.2, middle_y, steps=4)
    page.mouse.up()
    assert stage_position(page) == pytest.approx(20, abs=2)
    handle = page.frame_locator(SLIDER).get_by_role("slider")
    before_keys = stage_position(page)
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    assert stage_position(page) == pytest.approx(before_keys + 4, abs=0.2)
    assert float(handle.get_attribute("aria-valuenow")) == pytest.approx(before_keys + 4, abs=0.2)
    # Where the divider is, the before layer is clipped: its visible part ends at the divider.
    before = page.frame_locator(SLIDER).locator(".stage > .layer.before")
    clip = before.evaluate("layer => getComputedStyle(layer).clipPath")
    assert "inset" in clip

    # Zoomed to 400 % from the keyboard, both sides show the same region, as pixels; 0 fits again.
    viewer = page.frame_locator(SLIDER)
    viewer.locator("#compare").focus()
    for _ in range(2):
        viewer.locator("#compare").press("+")  # 640 CSS px show the 640 px output at 100 %: 200 %, 400 %
    expect(viewer.locator(".readout")).to_have_text("400%")
    transforms = [viewer.locator(f".stage > .layer.{side} img.display").evaluate("i => getComputedStyle(i).transform")
                  for side in ("before", "after")]  # fmt: skip
    assert transforms[0] == transforms[1] and transforms[0].startswith("matrix(4, 0, 0, 4,")
    expect(viewer.locator(".stage > .layer.after")).to_have_class(re.compile(r"\bpixelated\b"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(SLIDER).screenshot(path=str(ARTIFACTS / "enhance-slider-400.png"))
    viewer.locator("#compare").press("0")
    expect(viewer.locator(".readout")).to_have_text("100%")

    # Put the divider back near the middle for the screenshot.
    stage.scroll_into_view_if_needed()
    box = stage.bounding_box()
    middle_y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, middle_y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, middle_y, steps=3)
    page.mouse.up()

    # The download is the full-resolution file.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download PNG").click()
    download = download_info.value
    assert download.suggested_filename == "astronaut_x4.png"
    with Image.open(io.BytesIO(Path(download.path()).read_bytes())) as downloaded:
        assert downloaded.size == (PHOTO_SIZE[0] * 4, PHOTO_SIZE[1] * 4)
        assert downloaded.format == "PNG"

    # The 1:1 detail view shows the same spot of the input and of the output.
    page.get_by_text("1:1 detail").click()
    expect(page.get_by_text("Before (nearest neighbour)")).to_be_visible()
    expect(page.get_by_text("After, 1:1")).to_be_visible()

    # This run's tiers and the session's totals are on the page; nothing crashed.
    expect(page.get_by_role("heading", name="Tiers of this run")).to_be_visible()
    expect(page.get_by_role("heading", name="This session")).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "enhance.png")

    # The comparison works offline: the page never asked anything of another host (no CDN).
    assert only_local(page.requests, app_url) == []


def test_providers_and_history_pages(page: Page, app_url: str, tmp_path: Path):
    source = tmp_path / "small.png"
    source.write_bytes(png_bytes(photo((48, 36))))
    open_app(page, app_url)
    page.locator('input[type="file"]').set_input_files(source)
    expect(page.get_by_role("button", name="Enhance")).to_be_enabled()
    page.get_by_role("button", name="Enhance").click()
    expect(page.frame_locator(SLIDER).locator("#compare")).to_be_visible(timeout=STEP_MS)

    page.get_by_role("link", name="Providers").click()
    expect(page.get_by_role("heading", name="Providers")).to_be_visible()
    expect(page.get_by_text("Hugging Face Inference — not configured (set HUGGINGFACE_TOKEN)")).to_be_visible()
    page.get_by_text("Local (OpenVINO / ncnn) — configured").click()
    page.get_by_role("button", name="Probe Local").click()
    expect(page.get_by_text("Local answered in")).to_be_visible()
    screenshot(page, "providers.png")

    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
    screenshot(page, "history.png")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert only_local(page.requests, app_url) == []


def test_qa_and_batch_pages(page: Page, app_url: str, tmp_path: Path):
    source = tmp_path / "qa.png"
    source.write_bytes(png_bytes(photo((96, 72))))
    open_app(page, app_url)

    page.get_by_role("link", name="QA").click()
    expect(page.get_by_role("heading", name="Provider QA")).to_be_visible()
    page.locator('input[type="file"]').first.set_input_files(source)  # the One image tab's (the sweep has one too)
    compare = page.get_by_role("button", name="Compare")
    expect(compare).to_be_enabled()
    compare.click()
    expect(page.get_by_role("heading", name="1:1 detail")).to_be_visible(timeout=STEP_MS)
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    # The crops of every output share one zoomable view, each pane labelled with its provider and model.
    crops = page.frame_locator(CROPS)
    expect(crops.locator(".stage")).to_have_count(2)
    expect(crops.get_by_text("local/realesrgan-x4plus")).to_be_visible()  # the budget preset on a small photo
    crops.locator(".stage").first.press("+")
    expect(crops.locator(".readout")).to_have_text("200%")
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "qa.png")

    page.get_by_role("link", name="Batch").click()
    expect(page.get_by_role("heading", name="Batch")).to_be_visible()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    page.locator('input[type="file"]').set_input_files([source, broken])
    page.get_by_role("button", name="Enhance all").click()
    expect(page.get_by_role("button", name="Download hd_enhance_x4.zip")).to_be_visible(timeout=STEP_MS)
    expect(page.get_by_text("broken.png: ").first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "batch.png")
    assert only_local(page.requests, app_url) == []


def test_a_hostile_file_name_is_shown_as_text_not_as_a_link_or_an_image(page: Page, app_url: str, tmp_path: Path):
    """The real renderer: a name written as markdown, HTML, an icon, maths, a bare URL and an address shows as
    exactly its characters; no link, no image, and the page never asks the hosts the name points at."""
    name = ("![x](http://127.0.0.1:9/x.png) [click](http://evil.example) <img src=http://127.0.0.1:9/y.png> "
            ":material/home: :streamlit: $x^2$ _u_ www.evil.example admin@evil.example.png")  # fmt: skip
    open_app(page, app_url)
    page.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": b"not a picture at all"}]
    )
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="not an image")
    expect(alert).to_be_visible()
    assert alert.locator("a, img, svg, span[data-testid='stIconMaterial'], .katex").count() == 0
    text = alert.inner_text().replace("\u2060", "")
    assert text.startswith(name + ": "), text
    page.wait_for_timeout(500)  # time for any image the page might (wrongly) have asked for
    assert only_local(page.requests, app_url) == []
