"""hdcore.webapp.compare_slider: the documents it writes (self-contained, escaped, bounded), tested without a browser.

What the documents do in a browser (zoom, pan, 1:1, loupe, pixels on both sides) is in test_compare_slider_browser.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from hdcore.webapp import compare_slider
from tests.conftest import photo


def data_uris(document: str) -> list[str]:
    """The display renditions (``src``) in document order."""
    return re.findall(r' src="(data:[^"]+)"', document)


def full_uris(document: str) -> list[str]:
    """The full-resolution renditions, kept as data for the script to decode on demand."""
    return re.findall(r'data-full="(data:[^"]+)"', document)


def decoded(uri: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def without_images(document: str) -> str:
    return re.sub(r'(src|data-full)="data:[^"]+"', r'\1=""', document)


def gradient(size: tuple[int, int], alpha: bool = False) -> Image.Image:
    """A smooth image of ``size`` (cheap to encode at any size), with a transparent corner when ``alpha``."""
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    planes = [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2 + 0 * y]
    if alpha:
        planes.append(np.where((x < 8) & (y < 8), 0, 255) + 0 * x * y)
    return Image.fromarray(np.stack(planes, axis=2).astype(np.uint8))


def test_slider_is_self_contained_and_works_offline():
    slider = compare_slider.slider(photo((32, 24)), photo((128, 96)), caption="a <caption>")
    document = slider.html
    bare = without_images(document)
    assert "http:" not in bare and "https:" not in bare and "://" not in bare
    assert "<link" not in document and "@import" not in document and "url(" not in document
    for network in ("fetch(", "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon", "<script src"):
        assert network not in document
    assert re.findall(r' src="([^"]*)"', bare) == ["", ""]  # the only sources: the two data URIs
    assert "default-src 'none'" in document and "img-src data:;" in document  # the browser refuses any fetch
    uris = data_uris(document)
    assert len(uris) == 2 and all(u.startswith("data:image/jpeg;base64,") for u in uris)
    assert decoded(uris[0]).size == (128, 96) and decoded(uris[1]).size == (32, 24)  # after, then before
    assert full_uris(document) == []  # both already show every pixel: no second copy
    assert "a &lt;caption&gt;" in document
    assert 'role="slider"' in document and 'aria-valuenow="50"' in document
    assert document.count('tabindex="0"') == 2  # the stage (zoom, pan) and the divider's handle
    for handler in ("pointerdown", "pointermove", "keydown", "ArrowLeft", "Home", "End", "wheel", "dblclick"):
        assert handler in document
    assert slider.width == compare_slider.MIN_DISPLAY_WIDTH and slider.height > 96


def test_the_toolbar_buttons_are_labelled_for_assistive_technology():
    document = compare_slider.slider(photo((16, 12)), photo((64, 48))).html
    buttons = re.findall(r"<button ([^>]*)>([^<]*)</button>", document)
    assert [text for _, text in buttons] == ["−", "+", "Fit", "1:1", "Loupe"]
    assert all('type="button"' in attributes and "aria-label=" in attributes for attributes, _ in buttons)
    assert 'aria-pressed="false"' in document  # the loupe is a toggle
    assert 'aria-live="polite"' in document  # the zoom readout is announced
    assert 'aria-describedby="keys"' in document and 'id="keys"' in document  # the keyboard help


def test_slider_keeps_transparency_over_a_checkerboard():
    clear = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    slider = compare_slider.slider(clear.resize((16, 16)), clear)
    uris = data_uris(slider.html)
    assert all(u.startswith("data:image/png;base64,") for u in uris)
    assert decoded(uris[0]).mode == "RGBA" and "conic-gradient" in slider.html
    opaque = Image.new("RGBA", (8, 8), (1, 2, 3, 255))
    assert compare_slider.data_uri(opaque).startswith("data:image/jpeg")  # all-opaque alpha carries nothing


def test_slider_images_are_shrunk_to_display_size():
    big = Image.new("RGB", (3000, 1000), (40, 80, 120))
    assert compare_slider.display_size(big.size) == (1200, 400)
    assert compare_slider.display_size((100, 50)) == (100, 50)  # never enlarged
    slider = compare_slider.slider(big.resize((750, 250)), big)
    assert [decoded(u).size for u in data_uris(slider.html)] == [(1200, 400), (750, 250)]
    assert slider.width == 1200 and "aspect-ratio: 1200 / 400" in slider.html


def test_a_large_output_also_carries_its_full_resolution_up_to_4096_px():
    after, before = gradient((6000, 3000)), gradient((1500, 750))
    document = compare_slider.slider(before, after).html
    assert [decoded(u).size for u in data_uris(document)] == [(1200, 600), (1200, 600)]
    # The output's every pixel up to 4096 wide; the input's own pixels (it is smaller than that): no more.
    assert [decoded(u).size for u in full_uris(document)] == [(4096, 2048), (1500, 750)]
    assert 'class="layer after" data-display-width="1200" data-full="' in document
    assert 'data-full-width="4096"' in document and 'data-full-width="1500"' in document
    assert 'data-image-width="6000"' in document  # the zoom readout counts the output's own pixels


def test_the_inputs_full_rendition_never_outgrows_the_outputs():
    display, full = compare_slider.renditions(gradient((5000, 2500)), (1200, 800), limit=(2400, 1200))
    assert display.size == (1200, 600) and full is not None and full.size == (2400, 1200)
    assert decoded(full.uri).size == (2400, 1200)
    small_display, none = compare_slider.renditions(gradient((300, 200)), (1200, 800))
    assert small_display.size == (300, 200) and none is None


def test_full_resolution_is_bounded_by_side_and_for_transparency_by_pixels():
    assert compare_slider.full_size((3840, 2560), transparent=False) == (3840, 2560)  # every pixel
    assert compare_slider.full_size((8000, 6000), transparent=False) == (4096, 3072)
    assert compare_slider.full_size((4000, 3000), transparent=True) == (2000, 1500)  # 3 MP of PNG at most
    assert compare_slider.full_size((1, 9000), transparent=True) == (1, 4096)
    display, full = compare_slider.renditions(gradient((4000, 3000), alpha=True), (1200, 800))
    assert full is not None and full.uri.startswith("data:image/png;base64,")
    assert decoded(full.uri).size == (2000, 1500) and decoded(full.uri).mode == "RGBA"


def test_labels_and_captions_are_text_never_markup():
    hostile = '<img src=x onerror="alert(1)">'
    document = compare_slider.slider(
        photo((16, 12)), photo((64, 48)), before_label=hostile, after_label='A "quoted" & <b>bold</b> name',
        caption="</div><script>alert(2)</script>",
    ).html  # fmt: skip
    assert hostile not in document and "<b>bold" not in document and "<script>alert" not in document
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in document  # the tag, as text
    assert 'alt="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;: 16 × 12 px"' in document  # inside an attribute
    assert "A &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt; name" in document
    assert "&lt;/div&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in document
    assert document.count("<script>") == 1  # the viewer's own


def test_slider_shows_16_bit_gray_without_clipping():
    deep = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert deep.mode.startswith("I")
    shown = compare_slider.to_display(deep)
    assert shown.mode == "RGB" and shown.getpixel((0, 0)) == (255, 255, 255)
    assert compare_slider.to_display(Image.new("LA", (2, 2))).mode == "RGBA"
    assert compare_slider.to_display(Image.new("P", (2, 2))).mode == "RGB"


def test_slider_start_position_is_clamped():
    assert 'data-position="100"' in compare_slider.slider(photo((8, 8)), photo((16, 16)), start=250).html
    assert 'data-position="0"' in compare_slider.slider(photo((8, 8)), photo((16, 16)), start=-3).html


def test_a_grid_shows_every_image_in_one_synchronized_view():
    crops = [("lanczos", photo((64, 48))), ("local/<waifu2x>", photo((64, 48)).convert("L")), ("x", photo((64, 48)))]
    viewer = compare_slider.grid(crops, columns=2, caption="x 0–64 & more")
    document = viewer.html
    assert document.count('class="stage pane"') == 3 and document.count(' id="viewer"') == 1  # one view state
    assert [decoded(u).size for u in data_uris(document)] == [(64, 48)] * 3 and full_uris(document) == []
    assert "local/&lt;waifu2x&gt;" in document and "local/<waifu2x>" not in document
    assert 'aria-label="local/&lt;waifu2x&gt;"' in document and "x 0–64 &amp; more" in document
    assert "repeat(2, minmax(0, 1fr))" in document and "default-src 'none'" in document
    assert "://" not in without_images(document)
    assert viewer.width == 2 * 64 + compare_slider.GRID_GAP
    assert viewer.height == 2 * 48 + compare_slider.GRID_GAP + compare_slider.CONTROLS_HEIGHT
    one = compare_slider.grid(crops[:1], columns=3)
    assert "repeat(1, minmax(0, 1fr))" in one.html and one.width == 64  # never more columns than images


def test_a_grid_of_large_images_shrinks_each_pane_and_keeps_its_pixels_for_zooming():
    viewer = compare_slider.grid([("a", gradient((1600, 1200))), ("b", gradient((1600, 1200)))], columns=2)
    assert [decoded(u).size for u in data_uris(viewer.html)] == [(595, 446)] * 2  # (1200 - 10) / 2 across
    assert [decoded(u).size for u in full_uris(viewer.html)] == [(1600, 1200)] * 2


def test_a_grid_needs_an_image():
    with pytest.raises(ValueError, match="at least one image"):
        compare_slider.grid([])
