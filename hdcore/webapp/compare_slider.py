"""Before/after comparison viewers as self-contained HTML documents: no network, no CDN, no temp files.

Two viewers share one stylesheet and one script (``compare_slider.css``, ``compare_slider.js`` beside this
module):

- ``slider(before, after)``: the two images stacked, split by a divider that follows the pointer (mouse, pen,
  touch) and the keyboard (an ARIA slider).
- ``grid(panes)``: several images of one size side by side (the QA page's crops of every output).

Both zoom and pan with the wheel (about the pointer), a pinch (two pointers), a drag, the keyboard
(+ / - / 0 / 1 / arrows) and a toolbar (zoom out, readout, zoom in, Fit, 1:1, Loupe). Every image of a document
is drawn through the same CSS variables (``--k``, ``--tx``, ``--ty`` on the root), so the before and after
layers, the loupe and every pane of a grid always show the same region: one view state, no copies to keep in
step.

Images travel inside the document as data URIs. Each one is shown from a display rendition (at most
``MAX_DISPLAY``, or its own size when smaller); a larger image also carries a full-resolution rendition (at
most ``FULL_MAX_SIDE`` on the long side) that the script decodes when the view would magnify the display one,
so zooming in shows real pixels. Zoomed in past the fit at 100 % or more, every layer is drawn
``image-rendering: pixelated``: the output's pixels and the input's pixels, as blocks on the output's grid.
The fit view is drawn smooth, as the slider always was.

The page embeds a document with ``st.iframe``; the root carries ``data-position`` (the divider, 0-100) and
``data-zoom`` (device pixels per image pixel) so a browser test can read the state.

Why not the ``streamlit-image-comparison`` package: it loads juxtapose.js from an unpinned CDN (no offline use,
no reproducibility), renders through the deprecated ``components.html``, writes and deletes ``./temp/*.jpg``
files shared by every session (two sessions overwrite each other's images) and saves as JPEG, dropping alpha.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from PIL import Image

MAX_DISPLAY = (1200, 800)  # the largest box the slider is shown in (CSS pixels); the download has every pixel
MIN_DISPLAY_WIDTH = 360  # a tiny result is stretched to at least this width so the stage stays usable
JPEG_QUALITY = 90  # 4:4:4; on 4x outputs of photos: 1.3-1.7 bit/px, 45-48 dB PSNR against the PNG
# The full-resolution rendition: every pixel of outputs up to 4096 px on the long side (a 3840 px wide target,
# any 4x of a 1024 px input). Measured at 1.3-1.7 bit/px (JPEG above), 4096 x 2731 weighs 1.8-2.4 MB, 2.4-3.2 MB
# as base64; the worst case, 4096 x 4096, 3.6 MB (4.8 MB as base64), encoded in about 80 ms. Streamlit sends it
# once per result (its message cache answers later reruns with a hash).
FULL_MAX_SIDE = 4096
# Transparency needs PNG, measured at 9-12.5 bit/px on the same outputs: 4096 x 4096 would be over 20 MB (27 MB as
# base64), so an image with alpha keeps 3 megapixels at most: 3.5-4.7 MB, 4.6-6.3 MB as base64, about the JPEG
# worst case, encoded in 0.4 s at zlib level 3 (level 6 saves 10 % for 3x the time: 2.0 s against 0.7 s on 4 MP).
FULL_MAX_ALPHA_PIXELS = 3_000_000
PNG_COMPRESS_LEVEL = 3
LOUPE_MAGNIFICATION = 4.0  # the loupe's magnification over the current view
GRID_COLUMNS = 3
CONTROLS_HEIGHT = 66  # the toolbar and the caption under the stage, in CSS pixels
GRID_GAP = 10  # CSS pixels between the panes of a grid
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
WIDE_GRAY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


@dataclass(frozen=True)
class Slider:
    """A viewer document (the slider or the grid) and the size the page should give it."""

    html: str
    width: int  # CSS pixels of the viewer at full size
    height: int  # CSS pixels of the whole document (stage or panes, toolbar, caption)


@dataclass(frozen=True)
class Rendition:
    """One encoded copy of an image: its data URI and its pixel size."""

    uri: str
    size: tuple[int, int]


def display_size(size: tuple[int, int], box: tuple[int, int] = MAX_DISPLAY) -> tuple[int, int]:
    """``size`` shrunk (never enlarged) to fit ``box``, keeping the aspect ratio; at least 1x1."""
    width, height = size
    factor = min(1.0, box[0] / max(width, 1), box[1] / max(height, 1))
    return max(1, round(width * factor)), max(1, round(height * factor))


def full_size(size: tuple[int, int], transparent: bool) -> tuple[int, int]:
    """The size of the full-resolution rendition of an image of ``size``: every pixel up to the bounds above."""
    width, height = display_size(size, (FULL_MAX_SIDE, FULL_MAX_SIDE))
    if transparent and width * height > FULL_MAX_ALPHA_PIXELS:
        factor = math.sqrt(FULL_MAX_ALPHA_PIXELS / (width * height))
        width, height = max(1, math.floor(width * factor)), max(1, math.floor(height * factor))
    return width, height


def to_display(image: Image.Image) -> Image.Image:
    """An 8-bit RGB (or RGBA when it has transparency) copy a browser shows faithfully.

    16-bit and float gray are rescaled to 8 bits (PIL's own convert would clip them at 255).
    """
    if image.mode in WIDE_GRAY_MODES:
        plane = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
        full = 1.0 if image.mode == "F" and (plane.size == 0 or float(plane.max()) <= 1.0) else 65535.0
        return Image.fromarray(np.rint(np.clip(plane / full, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    transparent = image.mode in ALPHA_MODES or image.has_transparency_data
    return image.convert("RGBA" if transparent else "RGB")


def has_alpha(image: Image.Image) -> bool:
    """True when some pixel is not fully opaque (an all-opaque alpha channel carries nothing)."""
    display = image if image.mode in ("RGB", "RGBA") else to_display(image)
    return display.mode == "RGBA" and display.getchannel("A").getextrema()[0] < 255


def data_uri(image: Image.Image, size: tuple[int, int] | None = None) -> str:
    """``image`` as a data URI, shrunk to ``size`` if it is larger: PNG with transparency, else JPEG."""
    display = to_display(image)
    if size is not None and (display.width > size[0] or display.height > size[1]):
        display = display.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _encoded(display, has_alpha(display))


def renditions(
    image: Image.Image, box: tuple[int, int], limit: tuple[int, int] | None = None
) -> tuple[Rendition, Rendition | None]:
    """The display rendition of ``image`` (shrunk to fit ``box``) and, when that loses pixels, a full one
    (``full_size``, shrunk further to fit ``limit`` when given)."""
    shown = to_display(image)
    transparent = has_alpha(shown)
    display = display_size(shown.size, box)
    full = full_size(shown.size, transparent)
    if limit is not None:
        full = display_size(full, limit)
    full_rendition = None
    if full[0] > display[0]:
        full_rendition = Rendition(_encoded(_shrunk(shown, full), transparent), full)
    return Rendition(_encoded(_shrunk(shown, display), transparent), display), full_rendition


def _shrunk(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encoded(image: Image.Image, transparent: bool) -> str:
    buffer = io.BytesIO()
    if transparent:
        image.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
        mime = "image/png"
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def slider(
    before: Image.Image,
    after: Image.Image,
    *,
    before_label: str = "Before",
    after_label: str = "After",
    caption: str = "",
    box: tuple[int, int] = MAX_DISPLAY,
    start: float = 50.0,
) -> Slider:
    """The comparison document for ``before`` (stretched to ``after``'s frame) and ``after``.

    Both layers fill the same box, so the input's pixels land on the output's grid at every zoom: a pixel of
    a 4x input covers exactly 4 x 4 output pixels. Labels are text (HTML-escaped here).
    """
    width, height = display_size(after.size, box)
    stage_width = max(width, MIN_DISPLAY_WIDTH)
    stage_height = round(height * stage_width / width)
    after_display, after_full = renditions(after, box)
    # The input never needs more pixels than the output's full rendition can show.
    before_box = after_full.size if after_full is not None else after_display.size
    before_display, before_full = renditions(before, (width, height), limit=before_box)
    stage = _SLIDER_STAGE.format(
        width=stage_width,
        ratio=f"{width} / {height}",
        start=_clamp(start),
        after=_layer("after", after_display, after_full, f"{after_label}: {after.width} × {after.height} px"),
        before=_layer("before", before_display, before_full, f"{before_label}: {before.width} × {before.height} px"),
        before_label=html.escape(before_label),
        after_label=html.escape(after_label),
    )
    document = _document(stage, image_width=after.width, width=stage_width, caption=caption)
    return Slider(document, stage_width, stage_height + CONTROLS_HEIGHT)


def grid(
    panes: Sequence[tuple[str, Image.Image]],
    *,
    columns: int = GRID_COLUMNS,
    caption: str = "",
    box: tuple[int, int] = MAX_DISPLAY,
) -> Slider:
    """Images side by side in one synchronized view (zoom, pan and loupe move every pane together).

    Every pane takes the first image's frame (the QA page's crops all share one size); labels are text.
    """
    if not panes:
        raise ValueError("a grid needs at least one image")
    columns = max(1, min(columns, len(panes)))
    first = panes[0][1]
    cell_box = ((box[0] - GRID_GAP * (columns - 1)) // columns, box[1])
    width, height = display_size(first.size, cell_box)
    cells = []
    for label, image in panes:
        display, full = renditions(image, (width, height))
        cells.append(_GRID_CELL.format(
            ratio=f"{width} / {height}",
            layer=_layer("pane", display, full, f"{label}: {image.width} × {image.height} px"),
            label=html.escape(label),
        ))  # fmt: skip
    grid_width = width * columns + GRID_GAP * (columns - 1)
    stage = _GRID.format(columns=columns, width=grid_width, gap=GRID_GAP, cells="\n".join(cells))
    rows = math.ceil(len(panes) / columns)
    document = _document(stage, image_width=first.width, width=grid_width, caption=caption)
    return Slider(document, grid_width, rows * height + (rows - 1) * GRID_GAP + CONTROLS_HEIGHT)


def _layer(side: str, display: Rendition, full: Rendition | None, alt: str) -> str:
    """One image of a stage: its display rendition, and the full one as data the script decodes on demand."""
    extra = f' data-full="{full.uri}" data-full-width="{full.size[0]}"' if full is not None else ""
    return (
        f'<div class="layer {side}" data-display-width="{display.size[0]}"{extra}>'
        f'<img class="display" alt="{html.escape(alt, quote=True)}" src="{display.uri}"></div>'
    )


def _document(stage: str, *, image_width: int, width: int, caption: str) -> str:
    return _DOCUMENT.format(
        style=_asset("compare_slider.css"),
        image_width=image_width,
        loupe=f"{LOUPE_MAGNIFICATION:g}",
        stage=stage,
        width=width,
        caption=html.escape(caption),
        script=_asset("compare_slider.js"),
    )


@cache
def _asset(name: str) -> str:
    """The stylesheet or the script, read once from beside this module."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _clamp(percent: float) -> str:
    return f"{min(100.0, max(0.0, float(percent))):g}"


# Every resource is inline; the Content-Security-Policy makes the browser refuse anything else (no fetches).
# The style and the script are inserted as values, so their braces need no escaping.
_DOCUMENT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>{style}</style>
</head>
<body>
<div class="viewer" id="viewer" data-image-width="{image_width}" data-loupe="{loupe}" data-zoom="">
{stage}
<div class="controls" style="max-width: {width}px">
  <div class="toolbar" role="toolbar" aria-label="Zoom">
    <button type="button" data-action="out" aria-label="Zoom out" title="Zoom out (−)">−</button>
    <output class="readout" aria-live="polite" aria-label="Zoom level">100%</output>
    <button type="button" data-action="in" aria-label="Zoom in" title="Zoom in (+)">+</button>
    <button type="button" data-action="fit" aria-label="Fit the whole image" title="Fit (0)">Fit</button>
    <button type="button" data-action="actual" aria-label="Actual pixels: one image pixel per screen pixel"
            title="1:1, one image pixel per screen pixel (1)">1:1</button>
    <button type="button" data-action="loupe" aria-pressed="false" aria-label="Loupe, {loupe}× magnifier"
            title="Loupe: {loupe}× under the pointer (L)">Loupe</button>
  </div>
  <div class="caption">{caption}</div>
</div>
<p class="keys" id="keys">Wheel or pinch to zoom, drag to pan. Keys: + and − zoom, arrows pan when zoomed, 0 fits,
1 shows one image pixel per screen pixel, L toggles the loupe. Double-click toggles fit and 1:1.</p>
</div>
<script>{script}</script>
</body>
</html>
"""

_SLIDER_STAGE = """<div class="stage compare" id="compare" tabindex="0" role="group" data-position="{start}"
     aria-roledescription="zoomable comparison" aria-label="Before and after comparison" aria-describedby="keys"
     style="--pos: {start}%; max-width: {width}px; aspect-ratio: {ratio}">
  {after}
  {before}
  <span class="tag before">{before_label}</span>
  <span class="tag after">{after_label}</span>
  <div class="divider">
    <div class="handle" id="handle" role="slider" tabindex="0" aria-label="Divider between before and after"
         aria-valuemin="0" aria-valuemax="100" aria-valuenow="{start}" aria-valuetext="{start}% before">
      <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"
           stroke-linejoin="round" aria-hidden="true"><path d="M9 6l-6 6 6 6M15 6l6 6-6 6"/></svg>
    </div>
  </div>
</div>"""

_GRID = """<div class="grid" style="grid-template-columns: repeat({columns}, minmax(0, 1fr)); max-width: {width}px;
     gap: {gap}px">
{cells}
</div>"""

_GRID_CELL = """<div class="stage pane" tabindex="0" role="group" aria-roledescription="zoomable image"
     aria-label="{label}" aria-describedby="keys" style="aspect-ratio: {ratio}">
  {layer}
  <span class="tag before">{label}</span>
</div>"""
