"""The comparison viewers in a real browser: the documents from hdcore.webapp.compare_slider loaded straight into
Debian's Chromium (``page.set_content``), no server.

The images are lossless (PNG: one transparent corner pixel makes the document keep every bit), and "after" is
"before" enlarged 4x by nearest neighbour, so wherever the two layers show the same region, a screenshot of one
side equals a screenshot of the other, pixel for pixel. Screenshots land in artifacts/ for people to look at.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from hdcore.webapp import compare_slider
from tests.conftest import photo
from tests.app.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

BOX = (640, 480)  # the slider's display box: the 1280 x 960 output fits at 50 % on a 1x screen
VIEWPORT = {"width": 800, "height": 640}
STEP_MS = 30_000


def lossless(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    return rgba


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: apt-get install chromium (the README's test command)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def pair() -> tuple[Image.Image, Image.Image]:
    before = lossless(photo((320, 240)))
    return before, before.resize((1280, 960), Image.Resampling.NEAREST)


@pytest.fixture(scope="module")
def document(pair) -> str:
    return compare_slider.slider(*pair, box=BOX).html


def load(browser, html: str, *, scale: float = 1, touch: bool = False, viewport: dict = VIEWPORT) -> Page:
    """A fresh page showing ``html``; every request it makes is recorded and refused (``page.requests``)."""
    context = browser.new_context(viewport=viewport, device_scale_factor=scale, has_touch=touch)
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    page.requests = requests
    page.set_content(html)
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    return page


@pytest.fixture
def page(browser, document):
    opened = load(browser, document)
    yield opened
    assert opened.requests == []  # the viewer never asks anything of any host
    opened.context.close()


def state(page: Page) -> dict:
    return page.evaluate(
        """() => { const v = document.getElementById('viewer'), s = document.querySelector('.stage');
        return { zoom: +v.dataset.zoom, center: v.dataset.center.split(',').map(Number),
                 position: s.dataset.position === undefined ? null : +s.dataset.position,
                 readout: document.querySelector('.readout').textContent }; }"""
    )


def shown_transform(page: Page, layer: str) -> str:
    """The computed transform of the image a layer shows now (its full rendition once that is in use)."""
    return page.locator(f".stage > .layer.{layer}").evaluate(
        "l => getComputedStyle(l.querySelector(l.matches('.use-full.ready') ? 'img.full' : 'img.display')).transform"
    )


def pixels(page: Page, box: dict, name: str | None = None) -> np.ndarray:
    shot = page.screenshot(clip=box, path=str(ARTIFACTS / name) if name else None)
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)


def classes(*names: str) -> re.Pattern:
    """A class attribute holding every one of ``names``, in any order."""
    return re.compile("".join(rf"(?=.*\b{name}\b)" for name in names))


def showing_full(page: Page, *also: str, layer: str = ".stage > .layer.after") -> None:
    """Wait until ``layer`` draws its full rendition, decoded (a moment on a busy machine), with ``also``."""
    expect(page.locator(layer)).to_have_class(classes("use-full", "ready", *also), timeout=STEP_MS)


def stage_box(page: Page) -> dict:
    box = page.locator(".stage").first.bounding_box()
    assert box and box["width"] > 100
    return box


def at(box: dict, x: float, y: float) -> tuple[float, float]:
    return box["x"] + box["width"] * x, box["y"] + box["height"] * y


def inner(box: dict, margin_x: float = 30, top: float = 40, bottom: float = 8) -> dict:
    """The part of a stage clear of the tags, the rounded corners and a handle at either edge."""
    return {"x": box["x"] + margin_x, "y": box["y"] + top, "width": box["width"] - 2 * margin_x,
            "height": box["height"] - top - bottom}  # fmt: skip


def put_divider(page: Page, key: str) -> None:
    page.get_by_role("slider").press(key)


def mismatch(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels that differ by more than 2 levels in some channel."""
    return float(np.mean(np.abs(a - b).max(axis=2) > 2))


def test_the_wheel_zooms_to_400_percent_about_the_pointer_and_both_sides_show_the_same_pixels(page: Page):
    ARTIFACTS.mkdir(exist_ok=True)
    box = stage_box(page)
    assert state(page)["zoom"] == pytest.approx(0.5) and state(page)["readout"] == "50%"
    page.mouse.move(*at(box, 0.4, 0.45))
    page.mouse.wheel(0, -750)  # three octaves of wheel travel: 8x the fit
    expect(page.locator(".readout")).to_have_text("400%")
    now = state(page)
    assert now["zoom"] == pytest.approx(4.0, abs=0.01)
    # The image point under the pointer stayed under it: 0.4 across, 0.45 down.
    assert now["center"][0] + (0.4 - 0.5) / 8 == pytest.approx(0.4, abs=1e-3)
    assert now["center"][1] + (0.45 - 0.5) / 8 == pytest.approx(0.45, abs=1e-3)
    # Past the display rendition's pixels, the full one is decoded and drawn as pixels.
    showing_full(page, "pixelated")
    expect(page.locator(".stage > .layer.before")).to_have_class(classes("pixelated"))
    assert page.locator(".stage > .layer.before").get_attribute("data-full") is None  # its own size: no copy
    after, before = shown_transform(page, "after"), shown_transform(page, "before")
    assert after == before and after.startswith("matrix(8, 0, 0, 8,")  # one view for both layers

    page.screenshot(path=str(ARTIFACTS / "viewer-400.png"))
    put_divider(page, "Home")  # the whole stage shows "after"
    only_after = pixels(page, inner(box), "viewer-400-after.png")
    put_divider(page, "End")  # the whole stage shows "before"
    only_before = pixels(page, inner(box), "viewer-400-before.png")
    assert state(page)["zoom"] == pytest.approx(4.0, abs=0.01)
    # "after" is "before" enlarged 4x: the two sides agree pixel for pixel (input pixels on the output grid),
    assert mismatch(only_after, only_before) < 0.002
    assert only_after.std() > 20  # on a region with detail (the photo, not a flat colour)
    shifted = np.roll(only_before, 4, axis=1)  # and one output pixel off would show
    assert mismatch(only_after, shifted) > 0.05


def test_the_keyboard_zooms_pans_fits_and_moves_the_divider_when_not_zoomed(page: Page):
    stage = page.locator("#compare")
    stage.focus()
    stage.press("ArrowRight")  # at the fit, arrows move the divider
    assert state(page)["position"] == pytest.approx(52)
    for expected in ("100%", "200%", "400%"):  # + steps through powers of two
        stage.press("+")
        expect(page.locator(".readout")).to_have_text(expected)
    assert state(page)["center"] == pytest.approx([0.5, 0.5])
    stage.press("ArrowRight")  # zoomed in, arrows pan a tenth of the view
    stage.press("ArrowDown")
    assert state(page)["center"] == pytest.approx([0.5 + 0.1 / 8, 0.5 + 0.1 / 8], abs=1e-4)
    assert state(page)["position"] == pytest.approx(52)
    handle = page.get_by_role("slider")
    handle.press("ArrowLeft")  # the divider's own handle keeps moving the divider
    assert state(page)["position"] == pytest.approx(50)
    assert float(handle.get_attribute("aria-valuenow")) == pytest.approx(50)
    assert shown_transform(page, "after") == shown_transform(page, "before")
    stage.press("-")
    expect(page.locator(".readout")).to_have_text("200%")
    stage.press("1")
    expect(page.locator(".readout")).to_have_text("100%")
    stage.press("0")
    expect(page.locator(".readout")).to_have_text("50%")
    assert state(page)["center"] == pytest.approx([0.5, 0.5])
    expect(page.get_by_role("button", name="Fit the whole image")).to_be_disabled()


def test_a_drag_pans_when_zoomed_while_the_handle_still_drags_the_divider(page: Page):
    box = stage_box(page)
    page.locator("#compare").press("+")
    page.locator("#compare").press("+")  # 200 %: 4x the fit
    page.mouse.move(*at(box, 0.8, 0.3))
    page.mouse.down()
    page.mouse.move(*at(box, 0.7, 0.2), steps=4)
    page.mouse.up()
    assert state(page)["center"] == pytest.approx([0.5 + 0.1 / 4, 0.5 + 0.1 / 4], abs=2e-3)  # the image followed
    assert state(page)["position"] == pytest.approx(50)
    page.mouse.move(*at(box, 0.5, 0.5))  # the handle sits in the middle
    page.mouse.down()
    page.mouse.move(*at(box, 0.25, 0.5), steps=4)
    page.mouse.up()
    assert state(page)["position"] == pytest.approx(25, abs=0.5)
    assert state(page)["center"] == pytest.approx([0.5 + 0.1 / 4, 0.5 + 0.1 / 4], abs=2e-3)
    clip = page.locator(".stage > .layer.before").evaluate("l => getComputedStyle(l).clipPath")
    assert clip.startswith("inset(0px") and "75%" in clip


def test_the_one_to_one_button_shows_one_output_pixel_per_screen_pixel(page: Page, pair):
    box = stage_box(page)
    page.get_by_role("button", name="Actual pixels: one image pixel per screen pixel").click()
    expect(page.locator(".readout")).to_have_text("100%")
    showing_full(page, "pixelated")
    put_divider(page, "Home")
    shown = pixels(page, inner(box), "viewer-1to1.png")
    # Centred at 1:1, the 640 x 480 stage shows output pixels 320-960 across and 240-720 down, unscaled.
    output = np.asarray(pair[1].convert("RGB")).astype(int)
    expected = output[240 + 40 : 240 + 480 - 8, 320 + 30 : 320 + 640 - 30]
    assert shown.shape == expected.shape and mismatch(shown, expected) < 0.001
    page.get_by_role("button", name="Fit the whole image").click()
    expect(page.locator(".readout")).to_have_text("50%")
    page.mouse.dblclick(*at(box, 0.25, 0.25))  # double-click: 1:1 about the pointer, then back to the fit
    expect(page.locator(".readout")).to_have_text("100%")
    assert state(page)["center"] == pytest.approx([0.25 + 0.25 / 2, 0.25 + 0.25 / 2], abs=2e-3)
    page.mouse.dblclick(*at(box, 0.6, 0.6))
    expect(page.locator(".readout")).to_have_text("50%")


def test_one_to_one_counts_device_pixels_on_a_high_density_screen(browser, document):
    page = load(browser, document, scale=2)
    try:
        # 640 CSS px hold 1280 device px: the fit is already 1:1, and it draws from the full rendition.
        assert state(page)["readout"] == "100%"
        showing_full(page)
        expect(page.locator(".stage > .layer.after")).not_to_have_class(classes("pixelated"))  # the fit: smooth
        page.get_by_role("button", name="Actual pixels: one image pixel per screen pixel").click()
        assert state(page)["zoom"] == pytest.approx(1.0) and page.locator("#viewer").evaluate(
            "v => getComputedStyle(v).getPropertyValue('--k')") == "1"  # fmt: skip
        page.locator("#compare").press("+")
        expect(page.locator(".readout")).to_have_text("200%")
        assert shown_transform(page, "after").startswith("matrix(2, 0, 0, 2,")  # 2 CSS px = 4 device px
    finally:
        page.context.close()


def test_the_loupe_follows_the_pointer_and_magnifies_4x_what_the_view_shows(page: Page):
    box = stage_box(page)
    loupe_button = page.get_by_role("button", name="Loupe, 4× magnifier")
    loupe_button.click()
    expect(loupe_button).to_have_attribute("aria-pressed", "true")
    lens = page.locator(".stage > .loupe")
    for x, y in ((0.75, 0.5), (0.8, 0.625)):  # whole pixels: 480, 240 then 512, 300
        page.mouse.move(*at(box, x, y))
        expect(lens).to_be_visible()
        seen = lens.bounding_box()
        pointer = at(box, x, y)
        assert seen["x"] + seen["width"] / 2 == pytest.approx(pointer[0], abs=1.5)
        assert seen["y"] + seen["height"] / 2 == pytest.approx(pointer[1], abs=1.5)
    showing_full(page, "pixelated", layer=".loupe-view > .layer.after")
    side = seen["width"] / 2**0.5 - 8  # the square inside the circle
    square = {"x": pointer[0] - side / 2, "y": pointer[1] - side / 2, "width": side, "height": side}
    page.screenshot(path=str(ARTIFACTS / "viewer-loupe.png"))
    magnified = pixels(page, square)
    loupe_button.click()  # off; then the view itself zoomed 4x about the same point shows the same pixels
    page.mouse.move(*pointer)
    expect(lens).to_be_hidden()
    page.mouse.wheel(0, -500)
    expect(page.locator(".readout")).to_have_text("200%")
    showing_full(page, "pixelated")
    assert mismatch(magnified, pixels(page, square)) < 0.01
    page.mouse.move(box["x"] + box["width"] + 50, box["y"] + 10)  # leaving the stage hides a mouse's loupe
    loupe_button.click()
    expect(lens).to_be_hidden()


def test_the_loupe_shows_both_sides_split_at_the_divider(browser):
    color = lossless(photo((320, 240)))
    gray = lossless(photo((320, 240)).convert("L"))
    page = load(browser, compare_slider.slider(gray, color.resize((1280, 960)), box=BOX).html)
    try:
        box = stage_box(page)
        page.get_by_role("button", name="Loupe, 4× magnifier").click()
        # 10 px right of the divider, on the orange suit
        pointer = (box["x"] + box["width"] / 2 + 10, box["y"] + box["height"] / 2 + 150)
        page.mouse.move(*pointer)
        expect(page.locator(".stage > .loupe")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "viewer-loupe-split.png"))
        # Magnified 4x about the pointer, the divider lands 40 px left of the loupe's centre.
        row = pixels(page, {"x": pointer[0] - 70, "y": pointer[1] - 10, "width": 120, "height": 20})
        saturation = row.max(axis=2) - row.min(axis=2)
        assert saturation[:, :20].max() <= 3  # left of the split: the gray "before"
        assert saturation[:, 40:].mean() > 15  # right of it: the colour "after"
        white = np.where((row[10] >= 250).all(axis=1))[0]
        assert white.size and abs(white.mean() - 30) <= 2  # the split line, drawn in the loupe too
    finally:
        page.context.close()


def test_a_pinch_zooms_about_the_fingers_midpoint(browser, document):
    page = load(browser, document, touch=True)
    try:
        box = stage_box(page)
        cdp = page.context.new_cdp_session(page)
        middle = at(box, 0.5, 0.5)

        def fingers(kind: str, spread: float) -> None:
            points = [{"x": middle[0] + side * spread, "y": middle[1], "id": finger}
                      for finger, side in ((1, -1), (2, 1))]  # fmt: skip
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points if kind != "touchEnd" else []})

        fingers("touchStart", 50)
        for spread in range(60, 201, 10):
            fingers("touchMove", spread)
        fingers("touchEnd", 200)
        assert state(page)["zoom"] == pytest.approx(0.5 * 4, rel=0.05)  # 100 px apart, then 400 px: 4x
        assert state(page)["center"] == pytest.approx([0.5, 0.5], abs=0.01)
        assert state(page)["position"] == pytest.approx(50)  # the first finger down did not move the divider
        assert shown_transform(page, "after") == shown_transform(page, "before")
    finally:
        page.context.close()


def test_the_page_refuses_any_request_to_another_host(page: Page):
    blocked = page.evaluate(
        """() => new Promise(done => {
            document.addEventListener('securitypolicyviolation', event => done(event.blockedURI));
            const probe = new Image(); probe.src = 'http://127.0.0.1:9/probe.png'; document.body.append(probe);
        })"""
    )
    assert blocked.startswith("http://127.0.0.1:9")  # the policy refused it before any request left


def test_a_grid_zooms_pans_and_loupes_every_pane_together(browser):
    crop = lossless(photo((200, 150)))
    panes = [("lanczos", crop), ("local/<waifu2x>", crop.convert("L").convert("RGBA")), ("third", crop.rotate(180))]
    page = load(browser, compare_slider.grid(panes, caption="Three outputs").html)
    try:
        stages = page.locator(".stage")
        expect(stages).to_have_count(3)
        expect(page.get_by_text("local/<waifu2x>")).to_be_visible()  # a label is text, not markup
        second = stages.nth(1).bounding_box()
        page.mouse.move(second["x"] + second["width"] * 0.3, second["y"] + second["height"] * 0.3)
        page.mouse.wheel(0, -500)
        expect(page.locator(".readout")).to_have_text("400%")
        transforms = {stages.nth(i).locator("img.display").evaluate("img => getComputedStyle(img).transform")
                      for i in range(3)}  # fmt: skip
        assert len(transforms) == 1 and transforms.pop().startswith("matrix(4, 0, 0, 4,")
        page.get_by_role("button", name="Loupe, 4× magnifier").click()
        page.mouse.move(second["x"] + second["width"] * 0.6, second["y"] + second["height"] * 0.5)
        lenses = page.locator(".loupe")
        expect(lenses).to_have_count(3)
        centres = []
        for index in range(3):
            pane, lens = stages.nth(index).bounding_box(), lenses.nth(index).bounding_box()
            centres.append(((lens["x"] + lens["width"] / 2 - pane["x"]) / pane["width"],
                            (lens["y"] + lens["height"] / 2 - pane["y"]) / pane["height"]))  # fmt: skip
        assert centres == [pytest.approx((0.6, 0.5), abs=0.01)] * 3  # the same spot of every pane
        page.screenshot(path=str(ARTIFACTS / "viewer-grid.png"))
        stages.nth(2).press("0")
        expect(page.locator(".readout")).to_have_text("100%")
        assert page.requests == []
    finally:
        page.context.close()


def test_a_3840_px_output_at_400_percent_shows_its_own_pixels_from_the_full_rendition(browser):
    source = photo((480, 320))
    before = source.resize((1000, 667), Image.Resampling.LANCZOS)
    smooth = np.asarray(source.resize((3840, 2561), Image.Resampling.LANCZOS)).astype(int)
    checker = (np.indices(smooth.shape[:2]).sum(axis=0) % 2 * 2 - 1)[..., None] * 24  # detail only 3840 px hold
    after = Image.fromarray(np.clip(smooth + checker, 0, 255).astype(np.uint8))
    document = compare_slider.slider(before, after).html  # the app's display box: 1200 x 800
    assert len(document) < 8_000_000, len(document)  # the page stays light: JPEG, 4096 px at most
    page = load(browser, document, viewport={"width": 1300, "height": 900})
    try:
        box = stage_box(page)
        assert box["width"] == 1200 and state(page)["readout"] == "31%"
        for _ in range(4):  # 50 %, 100 %, 200 %, 400 %
            page.locator("#compare").press("+")
        expect(page.locator(".readout")).to_have_text("400%")
        showing_full(page, "pixelated")
        assert page.locator(".stage > .layer.after img.full").evaluate("img => img.naturalWidth") == 3840
        page.screenshot(path=str(ARTIFACTS / "viewer-3840-400.png"))
        put_divider(page, "Home")
        region = inner(box)
        shown = pixels(page, region, "viewer-3840-400-after.png")
        output = np.asarray(after).astype(int)
        assert np.abs(shown - expected_view(output, box, region)).mean() < 2.5  # its own pixels, 4 x 4 each
        # Drawn from the 1200 px display copy instead, the same view would be another picture.
        display = np.asarray(after.resize((1200, 800), Image.Resampling.LANCZOS).resize((3840, 2561))).astype(int)
        assert np.abs(shown - expected_view(display, box, region)).mean() > 5
        put_divider(page, "End")
        inputs = pixels(page, region, "viewer-3840-400-before.png")
        assert np.abs(inputs - expected_view(np.asarray(before).astype(int), box, region)).mean() < 2.5
    finally:
        page.context.close()


def test_past_the_4096_px_copy_the_readout_says_the_view_enlarges_a_copy(browser):
    wide = Image.fromarray(np.tile(np.arange(5000, dtype=np.uint16) % 256, (1000, 1)).astype(np.uint8)).convert("RGB")
    document = compare_slider.slider(wide.resize((1250, 250)), wide).html
    page = load(browser, document, viewport={"width": 1300, "height": 600})
    try:
        readout = page.locator(".readout")
        assert state(page)["readout"] == "24%" and readout.get_attribute("title") == ""
        page.locator("#compare").press("+")  # 25 %: the 4096 px copy still has a pixel for every screen pixel
        expect(readout).to_have_text("25%")
        assert readout.get_attribute("title") == ""
        for _ in range(4):
            page.locator("#compare").press("+")
        expect(readout).to_have_text("400%")
        expected = "Beyond 82%, this view enlarges a 4096 px wide copy; the download has every pixel"
        expect(readout).to_have_attribute("title", expected)
        showing_full(page)
        assert page.locator(".stage > .layer.after img.full").evaluate("img => img.naturalWidth") == 4096
    finally:
        page.context.close()


def expected_view(image: np.ndarray, stage: dict, region: dict, level: float = 4.0) -> np.ndarray:
    """What a centred view at ``level`` device pixels per output pixel shows of ``image`` (nearest neighbour,
    ``image`` stretched over the output's frame, 3840 x 2561 here) within ``region`` of the stage."""
    height, width = image.shape[:2]
    k = level * 3840 / stage["width"]  # over the fit
    across = (np.arange(region["width"]) + region["x"] - stage["x"] + 0.5 - (0.5 - 0.5 * k) * stage["width"]) / k
    down = (np.arange(region["height"]) + region["y"] - stage["y"] + 0.5 - (0.5 - 0.5 * k) * stage["height"]) / k
    columns = np.clip((across / stage["width"] * width).astype(int), 0, width - 1)
    rows = np.clip((down / stage["height"] * height).astype(int), 0, height - 1)
    return image[rows][:, columns]
