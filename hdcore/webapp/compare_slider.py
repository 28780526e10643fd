"""A before/after comparison slider as one self-contained HTML document: no network, no CDN, no temp files.

Both images travel inside the document as data URIs, shrunk to display size (PNG when they carry transparency,
shown over a checkerboard; JPEG otherwise, to keep the page light). A divider follows the pointer (mouse, pen,
touch) and the keyboard (arrows, Page Up/Down, Home/End on the focused handle, which is an ARIA slider).

The page embeds the document with ``st.iframe`` (the successor of the deprecated ``components.v1.html``); the
root element carries ``data-position`` (0-100, the divider's place in percent) so a browser test can read it.

Why not the ``streamlit-image-comparison`` package: it loads juxtapose.js from an unpinned CDN (no offline use,
no reproducibility), renders through the deprecated ``components.html``, writes and deletes ``./temp/*.jpg``
files shared by every session (two sessions overwrite each other's images) and saves as JPEG, dropping alpha.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

MAX_DISPLAY = (1200, 800)  # the largest box the slider is shown in (CSS pixels); the download has every pixel
MIN_DISPLAY_WIDTH = 360  # a tiny result is stretched to at least this width so the stage stays usable
JPEG_QUALITY = 90
CAPTION_HEIGHT = 34  # the strip of text under the stage, in CSS pixels
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
WIDE_GRAY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


@dataclass(frozen=True)
class Slider:
    """The document and the size the page should give it."""

    html: str
    width: int  # CSS pixels of the stage at full size
    height: int  # CSS pixels of the whole document (stage + caption)


def display_size(size: tuple[int, int], box: tuple[int, int] = MAX_DISPLAY) -> tuple[int, int]:
    """``size`` shrunk (never enlarged) to fit ``box``, keeping the aspect ratio; at least 1x1."""
    width, height = size
    factor = min(1.0, box[0] / max(width, 1), box[1] / max(height, 1))
    return max(1, round(width * factor)), max(1, round(height * factor))


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
    buffer = io.BytesIO()
    if has_alpha(display):
        display.save(buffer, format="PNG", optimize=False, compress_level=6)
        mime = "image/png"
    else:
        display.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
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
    """The comparison document for ``before`` (stretched to ``after``'s frame) and ``after``."""
    width, height = display_size(after.size, box)
    stage_width = max(width, MIN_DISPLAY_WIDTH)
    stage_height = round(height * stage_width / width)
    document = _TEMPLATE.format(
        width=stage_width,
        ratio=f"{width} / {height}",
        start=_clamp(start),
        before=data_uri(before, (width, height)),
        after=data_uri(after, (width, height)),
        before_label=html.escape(before_label),
        after_label=html.escape(after_label),
        before_alt=html.escape(f"{before_label}: {before.width} × {before.height} px", quote=True),
        after_alt=html.escape(f"{after_label}: {after.width} × {after.height} px", quote=True),
        caption=html.escape(caption),
        script=_SCRIPT,
    )
    return Slider(document, stage_width, stage_height + CAPTION_HEIGHT + 4)


def _clamp(percent: float) -> str:
    return f"{min(100.0, max(0.0, float(percent))):g}"


# Every resource is inline; the Content-Security-Policy makes the browser refuse anything else (no fetches).
_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
  html, body {{ margin: 0; padding: 0; background: transparent; }}
  body {{ font-family: "Source Sans Pro", "Source Sans 3", system-ui, -apple-system, "Segoe UI", sans-serif; }}
  .compare {{
    --pos: {start}%;
    position: relative; width: 100%; max-width: {width}px; aspect-ratio: {ratio}; margin: 0 auto;
    overflow: hidden; border-radius: 10px; cursor: ew-resize; user-select: none; -webkit-user-select: none;
    touch-action: none; box-shadow: 0 1px 3px rgba(15, 23, 42, .18);
    background-color: #ffffff;
    background-image: conic-gradient(#dfe3ea 25%, #ffffff 0 50%, #dfe3ea 0 75%, #ffffff 0);
    background-size: 18px 18px;
  }}
  .compare img {{
    position: absolute; inset: 0; width: 100%; height: 100%; display: block;
    pointer-events: none; -webkit-user-drag: none;
  }}
  .compare img.before {{ clip-path: inset(0 calc(100% - var(--pos)) 0 0); }}
  .divider {{ position: absolute; top: 0; bottom: 0; left: var(--pos); width: 0; }}
  .divider::before {{
    content: ""; position: absolute; top: 0; bottom: 0; left: -1px; width: 2px; background: #ffffff;
    box-shadow: 0 0 0 1px rgba(15, 23, 42, .35);
  }}
  .handle {{
    position: absolute; top: 50%; left: 0; width: 42px; height: 42px; transform: translate(-50%, -50%);
    border-radius: 50%; background: #ffffff; color: #0f172a; display: flex; align-items: center;
    justify-content: center; box-shadow: 0 2px 8px rgba(15, 23, 42, .35); outline: none;
  }}
  .handle:focus-visible {{ box-shadow: 0 0 0 3px #ff4b4b, 0 2px 8px rgba(15, 23, 42, .35); }}
  .handle svg {{ width: 24px; height: 24px; }}
  .tag {{
    position: absolute; top: 10px; padding: 3px 9px; border-radius: 6px; font-size: 13px; line-height: 18px;
    color: #ffffff; background: rgba(15, 23, 42, .66); pointer-events: none; white-space: nowrap;
  }}
  .tag.before {{ left: 10px; }}
  .tag.after {{ right: 10px; }}
  .caption {{
    max-width: {width}px; margin: 6px auto 0; color: #5b6472; font-size: 14px; line-height: 22px;
    text-align: center; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  }}
</style>
</head>
<body>
<div class="compare" id="compare" data-position="{start}">
  <img class="after" alt="{after_alt}" src="{after}">
  <img class="before" alt="{before_alt}" src="{before}">
  <span class="tag before">{before_label}</span>
  <span class="tag after">{after_label}</span>
  <div class="divider">
    <div class="handle" id="handle" role="slider" tabindex="0" aria-label="Divider between before and after"
         aria-valuemin="0" aria-valuemax="100" aria-valuenow="{start}" aria-valuetext="{start}% before">
      <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"
           stroke-linejoin="round" aria-hidden="true"><path d="M9 6l-6 6 6 6M15 6l6 6-6 6"/></svg>
    </div>
  </div>
</div>
<div class="caption">{caption}</div>
<script>{script}</script>
</body>
</html>
"""

_SCRIPT = """
(function () {
  var stage = document.getElementById("compare");
  var handle = document.getElementById("handle");
  var position = parseFloat(stage.dataset.position) || 50;
  var dragging = false;

  function place(percent) {
    position = Math.min(100, Math.max(0, percent));
    var text = position.toFixed(1);
    stage.style.setProperty("--pos", text + "%");
    stage.dataset.position = text;
    handle.setAttribute("aria-valuenow", text);
    handle.setAttribute("aria-valuetext", Math.round(position) + "% before");
  }
  function follow(event) {
    var box = stage.getBoundingClientRect();
    if (box.width > 0) place((event.clientX - box.left) / box.width * 100);
  }
  stage.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) return;
    dragging = true;
    stage.setPointerCapture(event.pointerId);
    follow(event);
    handle.focus({ preventScroll: true });
    event.preventDefault();
  });
  stage.addEventListener("pointermove", function (event) { if (dragging) follow(event); });
  ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (name) {
    stage.addEventListener(name, function () { dragging = false; });
  });
  handle.addEventListener("keydown", function (event) {
    var step = event.shiftKey ? 10 : 2;
    var moves = { ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step, PageDown: -10, PageUp: 10 };
    if (event.key in moves) place(position + moves[event.key]);
    else if (event.key === "Home") place(0);
    else if (event.key === "End") place(100);
    else return;
    event.preventDefault();
  });
  place(position);
})();
"""
