"""hdcore's local tier as a Hugging Face Space, with the API of the seed's Space (akhaliq/Real-ESRGAN).

    predict(image, mode) -> the image upscaled 4x, as a PNG file          api_name="/predict"

hdcore's Space tier, or anyone's gradio_client, calls it exactly as it calls the seed's Space:
``Client(src).predict(handle_file("photo.png"), "base", api_name="/predict")``. Unlike the seed's Space, the
input is not shrunk to 256 px first, so the answer is exactly 4x the input.

Modes. The seed offered "base" (Real-ESRGAN x4plus) and "anime" (Real-ESRGAN x4plus anime 6B). Real-ESRGAN
x4plus takes minutes per megapixel on a free CPU Space, longer than hdcore's 60 s Space deadline, so "base",
the default that hdcore sends, is the fast photo preset; the seed's models stay available as "best" and
"best-anime":

    base        preset "fast": waifu2x photo, two 2x passes       seconds per megapixel on 2 CPU cores
    anime       realesr-animevideov3: compact anime model          about as fast
    best        preset "best": Real-ESRGAN x4plus (seed's "base")  about 100x slower
    best-anime  realesrgan-x4plus-anime (seed's "anime")           slow

Settings come from hdcore's environment variables (HDCORE_LOCAL_THREADS, HDCORE_LOCAL_TILE, ...). Inputs are
limited to 1 megapixel unless HDCORE_MAX_INPUT_PIXELS says otherwise: a free CPU Space is slow.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr

from hdcore import Config, Engine, HDCoreError, InvalidInput

API_NAME = "predict"  # the seed Space's endpoint: /predict
SCALE = 4  # the seed Space's only scale
DEFAULT_MODE = "base"
SPACE_MAX_INPUT_PIXELS = 1024 * 1024
QUEUE_SIZE = 16  # beyond this, callers are told the queue is full (hdcore maps that to "rate limited")
CACHE_CLEANUP = (3600, 3600)  # every hour, delete answers older than an hour: a Space's disk is small


@dataclass(frozen=True)
class Mode:
    """How one mode runs on the local tier: a preset, or a named model."""

    description: str
    preset: str | None = None
    model: str | None = None


MODES: dict[str, Mode] = {
    "base": Mode("photos, fast (waifu2x photo)", preset="fast"),
    "anime": Mode("anime and illustrations, fast (Real-ESRGAN animevideov3)", model="realesr-animevideov3"),
    "best": Mode("photos, best and slow (Real-ESRGAN x4plus)", preset="best"),
    "best-anime": Mode("anime, best and slow (Real-ESRGAN x4plus anime)", model="realesrgan-x4plus-anime"),
}


def space_config(env: dict[str, str] | None = None) -> Config:
    """hdcore's settings from the environment, with a Space-sized input limit unless one is set."""
    env = dict(os.environ) if env is None else env
    config = Config.from_env(env)
    if not env.get("HDCORE_MAX_INPUT_PIXELS"):
        config = config.with_changes(max_input_pixels=SPACE_MAX_INPUT_PIXELS)
    return config


def make_upscaler(engine: Engine, provider: str, cache_dir: str) -> Callable[[str | None, str], str]:
    """The event handler: (input file, mode) -> path of the 4x PNG, written where Gradio serves files from."""

    def upscale(img: str | None, mode: str) -> str:  # the seed's parameter names, for keyword callers
        if not img:
            raise gr.Error("upload an image first", print_exception=False)
        chosen = _mode(mode)
        # a named model only exists on the local tier; other tiers (e.g. "lanczos" in development) use their own
        model = chosen.model if provider == "local" else None
        options = {"preset": chosen.preset} if chosen.preset else {}
        try:
            result = engine.enhance(img, scale=SCALE, provider=provider, model=model, **options)
        except InvalidInput as error:
            raise gr.Error(str(error), print_exception=False) from error
        except HDCoreError as error:
            raise gr.Error(f"upscaling failed: {error}") from error
        return _saved_png(result.encode("png").data, cache_dir)

    return upscale


def _mode(name: str | None) -> Mode:
    chosen = MODES.get(name or DEFAULT_MODE)
    if chosen is None:
        raise gr.Error(f"unknown mode {name!r} (valid: {', '.join(MODES)})", print_exception=False)
    return chosen


def _saved_png(data: bytes, cache_dir: str) -> str:
    """Write into Gradio's cache: a file already there is served as is (no copy), and delete_cache removes it."""
    folder = Path(cache_dir) / hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "upscaled.png"
    path.write_bytes(data)
    return str(path)


def build_app(provider: str = "local", engine: Engine | None = None) -> gr.Blocks:
    """The Space's Blocks app. ``provider``: the hdcore tier that upscales ("local"; "lanczos" needs no model)."""
    engine = engine if engine is not None else Engine(space_config())
    with gr.Blocks(title="hdcore upscaler", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown("# hdcore upscaler\nUpscale an image 4x with embedded ncnn models (no GPU, no key).")
        with gr.Row():
            image = gr.Image(type="filepath", image_mode=None, label="Input")  # the file as sent, untouched
            output = gr.Image(type="filepath", format="png", label="Output")
        mode = gr.Dropdown(
            choices=[(f"{name}: {spec.description}", name) for name, spec in MODES.items()],
            value=DEFAULT_MODE,
            label="model type",
        )
        button = gr.Button("Upscale 4x", variant="primary")
        upscale = make_upscaler(engine, provider, output.GRADIO_CACHE)
        button.click(upscale, inputs=[image, mode], outputs=output, api_name=API_NAME, concurrency_limit=1)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)  # CPU-bound: one upscale at a time
    return demo


if __name__ == "__main__":
    build_app().launch()
