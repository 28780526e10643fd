"""A Hugging Face Inference router of ours on 127.0.0.1, faithful to the protocol hdcore's HF tier speaks.

POST /models/<org>/<name> with ``Authorization: Bearer <token>`` and either the raw image bytes or the JSON form
``{"inputs": "<base64 image>", "parameters": {"prompt": ...}}``; the answer is the input upscaled by the model's
scale as ``image/png``. A wrong token gets 401 and an unknown model 404, with HF's JSON error body.

A test selects one fault with ``state.fault`` (see ``HF_FAULTS``); every request is recorded in
``state.requests`` (method, path, headers, body) whatever the fault.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from tests.servers.base import LocalServer, QuietHandler, ServerState, upscaled_png

TOKEN = "hf_test_Secret_Token_0123456789abcdef"
SD_X4 = "stabilityai/stable-diffusion-x4-upscaler"
REAL_ESRGAN = "nightmareai/real-esrgan"

HF_FAULTS = (
    "hang",  # read the request, then say nothing
    "slow",  # a valid image, one byte at a time (over state.drip_seconds, at most 0.5 s a byte)
    "500",
    "503",  # model loading, with estimated_time
    "429",  # rate limited, with Retry-After (state.retry_after; None: no header)
    "401",
    "410",  # the retired api-inference host's answer
    "non-image",  # 200 with an HTML page
    "json",  # 200 with a JSON body
    "truncated",  # 200 with the first half of a PNG (Content-Length matches what is sent)
    "stall",  # 200 with half the image, then silence (the connection stays open)
    "cut",  # 200 whose connection closes halfway through the declared Content-Length
    "wrong-size",  # 200 with a valid PNG of state.wrong_size
    "reset",  # TCP reset after reading the request
    "echo-token",  # 500 whose error text repeats the Authorization header (a careless proxy)
)


@dataclass
class HFRouterState(ServerState):
    token: str = TOKEN
    model_scales: dict[str, int] = field(default_factory=lambda: {SD_X4: 4, REAL_ESRGAN: 2})
    retry_after: int | str | None = 7
    estimated_time: float = 20.0
    wrong_size: tuple[int, int] = (50, 50)
    drip_seconds: float = 20.0  # "slow": how long the whole image would take; very long means 0.5 s a byte


class HFRouterHandler(QuietHandler):
    state: HFRouterState

    def do_POST(self) -> None:
        body = self.read_body()
        self.state.record(self, body)
        fault = self.state.fault
        if fault == "reset":
            return self.reset_connection()
        if fault == "hang":
            return self.hang()
        if self.headers.get("Authorization") != f"Bearer {self.state.token}" or fault == "401":
            return self.send_json(401, {"error": "Invalid credentials in Authorization header"})
        model = self.path.removeprefix("/models/")
        if not self.path.startswith("/models/") or model not in self.state.model_scales:
            return self.send_json(404, {"error": f"Model {model} does not exist"})
        if self._answered_with_an_error(fault, model):
            return None
        image = self._input_image(body)
        if image is None:
            return self.send_json(400, {"error": "inputs must be an image or its base64"})
        self._send_image(fault, upscaled_png(image, self.state.model_scales[model], self._size_for(fault)))
        return None

    def _answered_with_an_error(self, fault: str | None, model: str) -> bool:
        if fault == "500":
            self.send_json(500, {"error": "Internal Server Error"})
        elif fault == "503":
            loading = {"error": f"Model {model} is currently loading", "estimated_time": self.state.estimated_time}
            self.send_json(503, loading)
        elif fault == "429":
            after = self.state.retry_after
            headers = {} if after is None else {"Retry-After": str(after)}
            self.send_json(429, {"error": "Rate limit reached. Please log in or use your apiToken"}, headers)
        elif fault == "410":
            self.send_json(410, {"error": "https://api-inference.huggingface.co is no longer supported"})
        elif fault == "echo-token":
            self.send_json(500, {"error": f"upstream refused header {self.headers.get('Authorization')}"})
        else:
            return False
        return True

    def _input_image(self, body: bytes) -> bytes | None:
        """The raw bytes, or the JSON form's base64 ``inputs``; None when neither holds anything."""
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return body or None
        try:
            return base64.b64decode(json.loads(body)["inputs"], validate=True) or None
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None

    def _size_for(self, fault: str | None) -> tuple[int, int] | None:
        return self.state.wrong_size if fault == "wrong-size" else None

    def _send_image(self, fault: str | None, png: bytes) -> None:
        if fault == "slow":
            self.send_slowly(200, png, "image/png", seconds=self.state.drip_seconds)
        elif fault == "non-image":
            self.send_bytes(200, b"<!DOCTYPE html><html><body>Upscaler dashboard</body></html>", "text/html")
        elif fault == "json":
            self.send_json(200, [{"generated_text": "an upscaled photo"}])
        elif fault == "truncated":
            self.send_bytes(200, png[: len(png) // 2], "image/png")
        elif fault in ("cut", "stall"):
            self._send_half(png, stall=fault == "stall")
        else:
            self.send_bytes(200, png, "image/png")

    def _send_half(self, png: bytes, stall: bool) -> None:
        """Declare the whole image, send half, then close (the client sees the body end early) or fall silent."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(png)))
        self.end_headers()
        self.wfile.write(png[: len(png) // 2])
        self.wfile.flush()
        if stall:
            self.hang()
        self.close_connection = True


def hf_router(state: HFRouterState | None = None) -> LocalServer:
    """An HF router on 127.0.0.1; use as a context manager, then ``.url`` and ``.state``."""
    return LocalServer(HFRouterHandler, state or HFRouterState())
