"""A tiny Gradio app with the seed Space's signature whose answer is picked by the ``mode`` argument.

    /predict(image, mode) -> image        /pair(image, mode) -> (input, answer), like before/after Spaces
    /link(image, url) -> {"url": url, "path": "answer.png"}   a hostile Space naming any URL as its answer
    GET /hop?to=<url> -> 307 to <url>      (added after launch by ``add_hop_route``) a redirect on the Space's origin

Modes: "seed" (what akhaliq/Real-ESRGAN does: shrink to 256 px wide, then 4x), "x4", "slow" (waits, and
records whether Gradio cancelled it), "error" (raises gr.Error), "echo:<text>" (raises gr.Error repeating
<text>, as a Space echoing what it was sent), "wrong-aspect", "non-image", "big" (a 1000x1000 noise PNG of
about 3 MB, whatever was asked). Every wait is bounded, so a test that forgets to cancel still ends by itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

SEED_WIDTH = 256  # the seed Space resizes every input to this width before its 4x pass
SLOW_SECONDS = 20.0  # longer than any deadline the tests use
SLOW_STEP_S = 0.05


@dataclass
class FaultLog:
    """What the app saw: events ("started", "cancelled", "finished") and whether a token header came."""

    events: list[str] = field(default_factory=list)
    token_headers: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def count(self, event: str) -> int:
        with self.lock:
            return self.events.count(event)


def build_fault_app() -> tuple[gr.Blocks, FaultLog]:
    log = FaultLog()
    with gr.Blocks() as demo:
        image = gr.Image(type="filepath", image_mode=None)
        mode = gr.Textbox()
        answer = gr.Image(type="filepath", format="png")
        before = gr.Image(type="filepath", format="png")
        named = gr.JSON()
        cache = answer.GRADIO_CACHE

        async def predict(path: str, chosen: str, request: gr.Request) -> str:
            with log.lock:
                log.token_headers.append(request.headers.get("x-hf-authorization"))
            return await _answer(path, chosen, cache, log)

        async def pair(path: str, chosen: str) -> tuple[str, str]:
            return path, await _answer(path, chosen, cache, log)

        # concurrency_limit=None: a test's slow call must not hold up the next test's call
        gr.Button().click(predict, [image, mode], answer, api_name="predict", concurrency_limit=None)
        gr.Button().click(pair, [image, mode], [before, answer], api_name="pair", concurrency_limit=None)
        gr.Button().click(lambda path, url: {"url": url, "path": "answer.png"}, [image, mode], named,
                          api_name="link", concurrency_limit=None)
    demo.queue()
    return demo, log


async def _answer(path: str, mode: str, cache: str, log: FaultLog) -> str:
    source = Image.open(path).convert("RGB")
    if mode == "slow":
        await _wait_or_be_cancelled(log)
    if mode == "error":
        raise gr.Error("model crashed", print_exception=False)
    if mode.startswith("echo:"):
        raise gr.Error(f"model crashed near {mode.removeprefix('echo:')}", print_exception=False)
    if mode == "big":
        noise = np.random.default_rng(7).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
        return _cached(_png(Image.fromarray(noise)), cache, "answer.png")
    if mode == "non-image":
        return _cached(b"this is not an image\n", cache, "answer.png")
    if mode == "seed":
        height = int(source.height * SEED_WIDTH / source.width)  # as the seed's app.py rounds
        source = source.resize((SEED_WIDTH, height), Image.Resampling.BICUBIC)
    width, height = source.width * 4, source.height * 4
    if mode == "wrong-aspect":
        height *= 2
    return _cached(_png(source.resize((width, height), Image.Resampling.BICUBIC)), cache, "answer.png")


async def _wait_or_be_cancelled(log: FaultLog) -> None:
    log.add("started")
    try:
        for _ in range(int(SLOW_SECONDS / SLOW_STEP_S)):
            await asyncio.sleep(SLOW_STEP_S)
    except asyncio.CancelledError:  # Gradio cancels the handler's task when a client cancels its job
        log.add("cancelled")
        raise
    log.add("finished")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _cached(data: bytes, cache: str, name: str) -> str:
    folder = Path(cache) / hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return str(path)


def add_hop_route(demo: gr.Blocks) -> None:
    """GET /hop?to=<url> answers 307 to <url>: a redirect served from the Space's own origin (after launch)."""
    from fastapi.responses import RedirectResponse

    demo.app.add_api_route("/hop", lambda to: RedirectResponse(to, status_code=307), methods=["GET"])
