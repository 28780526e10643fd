"""Any output size, animations and metadata in a real browser: `streamlit run` on 127.0.0.1 driven by Debian's
Chromium through Playwright (the server, browser and page fixtures are test_browser's).

A 1000 x 667 photo with a camera's EXIF is enlarged to exactly 3840 px wide (the local tier's fast model at 4x,
then one resize), inspected at 400 % on both sides of the slider and downloaded: 3840 px wide, its camera
fields intact. A 20-frame GIF upscaled 2x comes back with its frame count, timing and loop. A transparent logo
comes back without a dark ring at its edge. Screenshots land in artifacts/ for people to look at.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from playwright.sync_api import Page, expect

from hdcore import Engine
from hdcore.images import as_float_rgb, compose, load_image
from hdcore.images.bleed import edge_luminance_ratio
from tests.app.test_browser import (  # noqa: F401  (fixtures: one app server and one browser for this module)
    ARTIFACTS, SLIDER, app_url, browser, chromium_is_installed, only_local, open_app, page, screenshot,
)
from tests.test_animated import DURATIONS, FRAMES, film

# The 3840 px run: waifu2x-photo at 4x on 0.67 MP, about 10 s per megapixel on 2 idle CPU cores, then encoding
# a 9.8 MP PNG and measuring its quality; several times that on a shared machine.
RUN_MS = 600_000
LOCAL_DONE = re.compile(r"Done by Local \((realesrgan-x4plus|waifu2x-photo)\) in ")  # the budget preset's pick
CAMERA = {"Make": "Hasselblad", "Model": "500EL Data Camera", "DateTimeOriginal": "1969:07:20 20:17:40",
          "ExposureTime": IFDRational(1, 250)}  # fmt: skip
EXIF_TAGS = {"Make": 0x010F, "Model": 0x0110, "DateTimeOriginal": 0x9003, "ExposureTime": 0x829A}
EXIF_IFD = 0x8769
LOGO_COLOUR = (0.85, 0.55, 0.25)


def camera_photo(path: Path) -> Path:
    """scikit-image's Chelsea (451 x 300) resized to 1000 x 667, as a JPEG carrying a camera's EXIF. Its
    centre, where the slider zooms, is the cat's face: fur and whiskers on both sides."""
    from skimage import data

    image = Image.fromarray(data.chelsea()).resize((1000, 667), Image.Resampling.LANCZOS)
    exif = Image.Exif()
    exif[EXIF_TAGS["Make"]], exif[EXIF_TAGS["Model"]] = CAMERA["Make"], CAMERA["Model"]
    exif.get_ifd(EXIF_IFD).update({EXIF_TAGS["DateTimeOriginal"]: CAMERA["DateTimeOriginal"],
                                   EXIF_TAGS["ExposureTime"]: CAMERA["ExposureTime"]})  # fmt: skip
    image.save(path, "JPEG", quality=92, exif=exif)
    return path


def camera_fields(image: Image.Image) -> dict:
    exif = image.getexif()
    photo_ifd = exif.get_ifd(EXIF_IFD)
    return {"Make": exif.get(EXIF_TAGS["Make"]), "Model": exif.get(EXIF_TAGS["Model"]),
            "DateTimeOriginal": photo_ifd.get(EXIF_TAGS["DateTimeOriginal"]),
            "ExposureTime": photo_ifd.get(EXIF_TAGS["ExposureTime"])}  # fmt: skip


def logo_over_black(size: int = 96) -> np.ndarray:
    """An orange disk with a hard alpha edge whose hidden pixels are black (bench/alpha_fringe.py's test image)."""
    yy, xx = np.mgrid[:size, :size]
    alpha = (((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2) < (size * 0.36) ** 2).astype(np.float32)
    return np.dstack([alpha[:, :, None] * np.float32(LOGO_COLOUR), alpha])


def choose_option(page: Page, label: str, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).locator('[role="combobox"]').click()
    page.get_by_role("option", name=option, exact=True).click()


def choose_scale(page: Page, scale: str) -> None:
    page.locator('[data-testid="stRadio"]').filter(has_text="Scale").get_by_text(scale, exact=True).click()


def zoom_to_400(page: Page) -> None:
    viewer = page.frame_locator(SLIDER)
    viewer.locator("#compare").focus()
    for _ in range(8):  # each "+" doubles the view, from the fit to the next octave
        if viewer.locator(".readout").text_content() == "400%":
            break
        viewer.locator("#compare").press("+")
    expect(viewer.locator(".readout")).to_have_text("400%")


def side(page: Page, key: str, name: str) -> np.ndarray:
    """The stage with the divider at one end (Home: only "after", End: only "before"), as pixels."""
    viewer = page.frame_locator(SLIDER)
    viewer.get_by_role("slider").press(key)
    stage = page.locator(SLIDER).bounding_box()
    shot = page.screenshot(clip={"x": stage["x"] + 30, "y": stage["y"] + 50, "width": stage["width"] - 60,
                                 "height": 360}, path=str(ARTIFACTS / name))  # fmt: skip
    return np.asarray(Image.open(io.BytesIO(shot)).convert("L")).astype(float)


def download(page: Page, label: str) -> tuple[str, bytes]:
    with page.expect_download() as download_info:
        page.get_by_role("button", name=label).click()
    done = download_info.value
    return done.suggested_filename, Path(done.path()).read_bytes()


def test_a_photo_enlarged_to_3840_px_wide_keeps_its_camera_exif_and_is_inspected_at_400_percent(
    page: Page, app_url: str, tmp_path: Path
):
    open_app(page, app_url)
    page.locator('input[type="file"]').set_input_files(camera_photo(tmp_path / "chelsea.jpg"))
    expect(page.get_by_text("chelsea.jpg · 1000 × 667 px")).to_be_visible()
    choose_option(page, "Output size", "Width and/or height")
    width = page.get_by_label("Width (px)")
    expect(width).to_have_value("3840")
    expect(page.get_by_text("1000 × 667 → 3840 × 2561 px · 3.84×: 4×, then resized")).to_be_visible()
    width.fill("3500")  # the size part of the page reruns alone, and says where the new width lands
    width.press("Enter")
    expect(page.get_by_text("1000 × 667 → 3500 × 2334 px · 3.5×: 4×, then resized")).to_be_visible()
    width.fill("3840")
    width.press("Enter")
    expect(page.get_by_text("1000 × 667 → 3840 × 2561 px · 3.84×: 4×, then resized")).to_be_visible()
    screenshot(page, "size-3840-before-run.png")
    page.get_by_role("button", name="Enhance").click()

    expect(page.frame_locator(SLIDER).locator("#compare")).to_be_visible(timeout=RUN_MS)
    done = page.get_by_text(LOCAL_DONE)  # the budget preset's model: x4plus where this CPU makes it in 30 s
    expect(done).to_be_visible()
    print(f"\n3840 px run: {done.text_content()}")
    expect(page.get_by_text("3840 × 2561", exact=True)).to_be_visible()  # the headline's output figure

    # 400 %: four screen pixels per output pixel, drawn from the full 3840 px rendition, the same view both sides.
    zoom_to_400(page)
    viewer = page.frame_locator(SLIDER)
    expect(viewer.locator(".stage > .layer.after")).to_have_class(_classes("use-full", "ready"), timeout=RUN_MS)
    assert viewer.locator(".stage > .layer.after img.full").evaluate("img => img.naturalWidth") == 3840
    transforms = [viewer.locator(f".stage > .layer.{layer}").evaluate(
        "l => getComputedStyle(l.querySelector(l.matches('.use-full.ready') ? 'img.full' : 'img.display')).transform"
    ) for layer in ("after", "before")]  # fmt: skip
    page.locator(SLIDER).screenshot(path=str(ARTIFACTS / "size-3840-slider-400.png"))
    after = side(page, "Home", "size-3840-400-after.png")
    before = side(page, "End", "size-3840-400-before.png")
    assert after.std() > 10 and before.std() > 10  # the photo, not an empty stage
    # One region on both sides: the output's view and the input's, blurred, follow each other closely ...
    assert np.corrcoef(_blurred(after).ravel(), _blurred(before).ravel())[0, 1] > 0.8
    # ... each drawn as its own pixels: the input's as blocks of 3.84 x 4 = 15.4 screen pixels, which the
    # output's view (4 screen pixels for each of its own) does not show.
    assert 14 <= _block_width(before) <= 17
    assert not 14 <= _block_width(after) <= 17
    assert transforms[0] == transforms[1] and ", 0, 0, " in transforms[0]  # one view, a pure scale, for both
    viewer.locator("#compare").press("0")
    viewer.get_by_role("slider").press("End")

    name, data = download(page, "Download PNG")
    assert name == "chelsea_w3840.png"
    with Image.open(io.BytesIO(data)) as downloaded:
        assert downloaded.size == (3840, 2561) and downloaded.format == "PNG"
        assert camera_fields(downloaded) == CAMERA
    screenshot(page, "size-3840-result.png")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert only_local(page.requests, app_url) == []


def _classes(*names: str):
    import re

    return re.compile("".join(rf"(?=.*\b{name}\b)" for name in names))


def _block_width(pixels: np.ndarray) -> float:
    """The median spacing of the screen columns where most rows change (the edges of pixels drawn as blocks);
    0 when there are not three such columns."""
    edges = np.flatnonzero(np.mean(np.abs(np.diff(pixels, axis=1)) > 0, axis=0) > 0.5)
    return float(np.median(np.diff(edges))) if len(edges) > 2 else 0.0


def _blurred(pixels: np.ndarray, block: int = 16) -> np.ndarray:
    height, width = (pixels.shape[0] // block) * block, (pixels.shape[1] // block) * block
    return pixels[:height, :width].reshape(height // block, block, width // block, block).mean(axis=(1, 3))


def test_a_20_frame_gif_upscaled_2x_keeps_its_frames_timing_and_loop(page: Page, app_url: str, tmp_path: Path):
    source = tmp_path / "pan.gif"
    source.write_bytes(film("GIF", size=(160, 120), loop=3))
    open_app(page, app_url)
    page.locator('input[type="file"]').set_input_files(source)
    expect(page.get_by_text("GIF · 20 frames")).to_be_visible()
    choose_scale(page, "2×")
    expect(page.get_by_text("20 frames of 160x120 to 320x240 (2x): about")).to_be_visible()
    screenshot(page, "animation-before-run.png")
    page.get_by_role("button", name="Enhance").click()

    done = page.get_by_text("Done by Local (waifu2x-photo): 20 frames in ")
    expect(done).to_be_visible(timeout=RUN_MS)
    print(f"\n20-frame GIF: {done.text_content()}")
    player = page.frame_locator('iframe[title="The upscaled animation, playing"]').locator("img")
    expect(player).to_be_visible()
    assert player.evaluate("img => img.complete && img.naturalWidth") == 320

    name, data = download(page, "Download GIF")
    assert name == "pan_x2.gif"
    with Image.open(io.BytesIO(data)) as downloaded:
        assert downloaded.format == "GIF" and downloaded.n_frames == FRAMES and downloaded.size == (320, 240)
        assert downloaded.info["loop"] == 3
        durations = []
        for index in range(FRAMES):
            downloaded.seek(index)
            durations.append(downloaded.info["duration"])
    assert durations == DURATIONS
    screenshot(page, "animation-result.png")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_transparent_logo_comes_back_without_a_dark_fringe(page: Page, app_url: str, tmp_path: Path):
    rgba = logo_over_black()
    source = tmp_path / "logo.png"
    Image.fromarray(np.rint(rgba * 255).astype(np.uint8), "RGBA").save(source)
    open_app(page, app_url)
    page.locator('input[type="file"]').set_input_files(source)
    choose_scale(page, "2×")
    page.get_by_role("button", name="Enhance").click()
    done = page.get_by_text(LOCAL_DONE)
    expect(done).to_be_visible(timeout=RUN_MS)
    model = LOCAL_DONE.search(done.text_content()).group(1)
    page.locator(SLIDER).screenshot(path=str(ARTIFACTS / "logo-slider.png"))

    name, data = download(page, "Download PNG")
    assert name == "logo_x2.png"
    with Image.open(io.BytesIO(data)) as downloaded:
        assert downloaded.mode == "RGBA" and downloaded.size == (192, 192)
        output = np.asarray(downloaded, dtype=np.float32) / 255
    assert edge_luminance_ratio(output, LOGO_COLOUR) > 0.98  # no darker ring than the input's hard edge had
    # Without colour bleeding, the same model and edge would show a ring at half the disk's luminance.
    unbled = Engine().enhance(np.ascontiguousarray(rgba[:, :, :3]), 2, "local", model).image
    ringed = np.asarray(compose(as_float_rgb(unbled), load_image(rgba)).convert("RGBA"), dtype=np.float32) / 255
    assert edge_luminance_ratio(ringed, LOGO_COLOUR) < 0.7
    screenshot(page, "logo-result.png")
