"""Hugging Face's router, the Hub and a dedicated Inference Endpoint, ours, on 127.0.0.1: faithful to the protocols
hdcore's HF tier speaks and to what huggingface_hub's ``InferenceClient`` sends.

    POST /models/<org>/<name>                      the hf-inference protocol (HDCORE_HF_BASE_URL=<server>)
    POST /hf-inference/models/<org>/<name>          the same, as the router serves the hf-inference provider
    POST <any path in state.endpoints>              a dedicated Inference Endpoint serving one model
    GET  /api/models/<org>/<name>?expand=...        the Hub: which provider maps the model (state.mapped)
    POST /fal-ai/<provider id>?_subdomain=queue     fal-ai's queue through the router: submit
    GET  /fal-ai/<provider id>/requests/<id>/status                                        status
    GET  /fal-ai/<provider id>/requests/<id>                                               result ({"images": [...]})
    GET  /files/<id>.png                            the result's image (where fal.media would serve it)

A POST carries ``Authorization: Bearer <token>`` and either the raw image or the JSON form ``{"inputs":
"<base64>", "parameters": {...}}`` (``prompt``, ``target_size``); fal's submit carries ``{"image_url": "<data
URI>", "image_size": {...}}``. The answer is the input upscaled by the model's scale, or resized to the requested
``target_size`` / ``image_size`` when one is given, as ``image/png``. A wrong token gets 401 and an unknown model
404, with HF's JSON error body.

A test selects one fault with ``state.fault`` (see ``HF_FAULTS``); every request is recorded in
``state.requests`` (method, path, headers, body) whatever the fault.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import urllib.parse
from dataclasses import dataclass, field

from PIL import Image

from tests.servers.base import HANG_SECONDS, LocalServer, QuietHandler, ServerState, upscaled_png

TOKEN = "hf_test_Secret_Token_0123456789abcdef"
SD_X4 = "stabilityai/stable-diffusion-x4-upscaler"
REAL_ESRGAN = "nightmareai/real-esrgan"

HF_FAULTS = (
    "hang",  # read the request, then say nothing
    "slow",  # a valid image, one byte at a time (over state.drip_seconds, at most 0.5 s a byte)
    "500",
    "503",  # model loading, with estimated_time (state.estimated_time)
    "429",  # rate limited, with Retry-After (state.retry_after; None: no header)
    "401",
    "410",  # the retired api-inference host's answer
    "413",  # the image is too large for the model: about this request only
    "422",  # an input the model refuses: about this request only
    "non-image",  # 200 with an HTML page
    "json",  # 200 with a JSON body
    "truncated",  # 200 with the first half of a PNG (Content-Length matches what is sent)
    "stall",  # 200 with half the image, then silence (the connection stays open)
    "cut",  # 200 whose connection closes halfway through the declared Content-Length
    "wrong-size",  # 200 with a valid PNG of state.wrong_size
    "reset",  # TCP reset after reading the request
    "echo-token",  # 500 whose error text repeats the Authorization header, spelled as state.echo_style says:
    #                ECHO_STYLES (as sent, upper or lower case, every byte %XX, form-encoded, \\uXXXX escapes inside a
    #                quoted JSON document, HTML entities, or far enough in to straddle a 200-character cut)
    "redirect",  # 307 to state.redirect_to (another server's URL): the token and the image must not follow
    "huge-length",  # 200 declaring a Content-Length of 10 GB, then a little data
    "endless",  # 200 with no Content-Length, sending bytes until the client goes away
    "queue-forever",  # fal's queue: the status stays IN_PROGRESS
    "elsewhere",  # fal's result points its image at state.image_url (another address)
)
ECHO_STYLES = ("plain", "upper", "lower", "percent", "plus", "json-escaped", "html", "straddle")


@dataclass
class HFRouterState(ServerState):
    token: str = TOKEN
    model_scales: dict[str, int] = field(default_factory=lambda: {SD_X4: 4, REAL_ESRGAN: 2})
    endpoints: dict[str, int] = field(default_factory=dict)  # path -> the scale of the model it serves
    mapped: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # model -> (provider, provider id, scale)
    retry_after: int | str | None = 7
    estimated_time: float | str = 20.0
    wrong_size: tuple[int, int] = (50, 50)
    drip_seconds: float = 20.0  # "slow": how long the whole image would take; very long means 0.5 s a byte
    echo_style: str = "plain"
    redirect_to: str = ""
    image_url: str = ""
    fal_jobs: dict[str, bytes] = field(default_factory=dict)  # request id -> the answer's PNG

    def paths(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if method is None or r.method == method]


class HFRouterHandler(QuietHandler):
    state: HFRouterState

    def do_GET(self) -> None:
        self.state.record(self, b"")
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/api/models/"):
            return self._mapping(path.removeprefix("/api/models/"))
        if path.startswith("/files/"):
            return self._file(path.removeprefix("/files/").removesuffix(".png"))
        if path.startswith("/fal-ai/") and "/requests/" in path:
            return self._fal_poll(path)
        return self.send_json(404, {"error": "Not Found"})

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
        path = urllib.parse.urlsplit(self.path).path
        scale = self._scale_for(path)
        if scale is None:
            return self.send_json(404, {"error": f"Model {path} does not exist"})
        if self._answered_with_an_error(fault, path):
            return None
        if path.startswith("/fal-ai/"):
            return self._fal_submit(path.removeprefix("/fal-ai/"), body, scale)
        image, size = self._input_image(body)
        if image is None:
            return self.send_json(400, {"error": "inputs must be an image or its base64"})
        self._send_image(fault, upscaled_png(image, scale, self._size_for(fault) or size))
        return None

    # --- routes ----------------------------------------------------------------------------------------

    def _scale_for(self, path: str) -> int | None:
        if path in self.state.endpoints:
            return self.state.endpoints[path]
        for prefix in ("/models/", "/hf-inference/models/"):
            if path.startswith(prefix):
                return self.state.model_scales.get(path.removeprefix(prefix))
        if path.startswith("/fal-ai/"):
            by_provider_id = {pid: scale for provider, pid, scale in self.state.mapped.values() if provider == "fal-ai"}
            return by_provider_id.get(path.removeprefix("/fal-ai/"))
        return None

    def _mapping(self, model: str) -> None:
        if model not in self.state.mapped and model not in self.state.model_scales:
            return self.send_json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        mapping = {}
        if model in self.state.mapped:
            provider, provider_id, _ = self.state.mapped[model]
            mapping[provider] = {"status": "live", "providerId": provider_id, "task": "image-to-image"}
        return self.send_json(200, {"id": model, "pipeline_tag": "image-to-image", "inferenceProviderMapping": mapping})

    def _fal_submit(self, provider_id: str, body: bytes, scale: int) -> None:
        try:
            document = json.loads(body)
            image = base64.b64decode(document["image_url"].split(",", 1)[1], validate=True)
        except (ValueError, KeyError, IndexError, AttributeError, binascii.Error):
            return self.send_json(422, {"detail": "image_url must be a data URI"})
        size = _size(document.get("image_size"))
        with self.state.lock:
            request_id = f"req{len(self.state.fal_jobs) + 1}"
            self.state.fal_jobs[request_id] = upscaled_png(image, scale, size)
        base = f"https://queue.fal.run/{provider_id}/requests/{request_id}"
        return self.send_json(200, {"request_id": request_id, "status": "IN_QUEUE", "response_url": base,
                                    "status_url": base + "/status", "cancel_url": base + "/cancel"})

    def _fal_poll(self, path: str) -> None:
        head, _, rest = path.partition("/requests/")
        request_id, _, tail = rest.partition("/")
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            return self.send_json(401, {"error": "Invalid credentials in Authorization header"})
        if request_id not in self.state.fal_jobs:
            return self.send_json(404, {"detail": "Request not found"})
        if tail == "status":
            status = "IN_PROGRESS" if self.state.fault == "queue-forever" else "COMPLETED"
            return self.send_json(200, {"status": status, "request_id": request_id})
        host, port = self.server.server_address[:2]
        own = f"http://{host}:{port}/files/{request_id}.png"
        url = self.state.image_url if self.state.fault == "elsewhere" else own
        return self.send_json(200, {"images": [{"url": url, "content_type": "image/png"}]})

    def _file(self, request_id: str) -> None:
        png = self.state.fal_jobs.get(request_id)
        if png is None:
            return self.send_json(404, {"detail": "File not found"})
        if self.state.fault in ("huge-length", "endless", "slow"):
            return self._send_image(self.state.fault, png)
        return self.send_bytes(200, png, "image/png")

    # --- faults ----------------------------------------------------------------------------------------

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
        elif fault in ("410", "413", "422"):
            self.send_json(int(fault), {"error": _ERRORS[fault]})
        elif fault == "echo-token":
            self._echo(self.headers.get("Authorization") or "")
        elif fault == "redirect":
            self.send_bytes(307, b"", "text/plain", {"Location": self.state.redirect_to})
        else:
            return False
        return True

    def _echo(self, header: str) -> None:
        """A careless proxy repeating the credential it got, spelled one of ECHO_STYLES' ways."""
        style = self.state.echo_style
        if style == "json-escaped":  # a JSON document quoted inside the error text: its escapes survive one parse
            inner = "".join(f"\\u{ord(c):04x}" for c in header)
            return self.send_json(500, {"error": f'upstream said {{"header": "{inner}"}}'})
        spelled = {
            "plain": header, "upper": header.upper(), "lower": header.lower(),
            "percent": "".join(f"%{byte:02X}" for byte in header.encode()), "plus": urllib.parse.quote_plus(header),
            "html": "".join(f"&#{ord(c)};" for c in header),
            # the token starts 182 characters into HF's error text: a cut at 200 before masking kept 15 of it
            "straddle": "x" * 150 + " " + header,
        }[style]
        return self.send_json(500, {"error": f"upstream refused header {spelled}"})

    def _input_image(self, body: bytes) -> tuple[bytes | None, tuple[int, int] | None]:
        """The raw bytes, or the JSON form's base64 ``inputs`` and any ``target_size``; None when neither."""
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return body or None, None
        try:
            document = json.loads(body)
            image = base64.b64decode(document["inputs"], validate=True) or None
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None, None
        return image, _size((document.get("parameters") or {}).get("target_size"))

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
        elif fault == "huge-length":
            self._send_declared(png, 10_000_000_000)
        elif fault == "endless":
            self._send_endless(png)
        else:
            self.send_bytes(200, png, "image/png")

    def _send_half(self, png: bytes, stall: bool) -> None:
        """Declare the whole image, send half, then close (the client sees the body end early) or fall silent."""
        self._send_declared(png[: len(png) // 2], len(png))
        if stall:
            self.hang()

    def _send_declared(self, data: bytes, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def _send_endless(self, png: bytes) -> None:
        """An answer with no declared length that never ends (until the client hangs up, or HANG_SECONDS)."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.close_connection = True
        block = png + bytes(64 * 1024)
        try:
            for _ in range(int(HANG_SECONDS * 1000)):
                self.wfile.write(block)
        except OSError:
            pass


_ERRORS = {
    "410": "https://api-inference.huggingface.co is no longer supported",
    "413": "Payload Too Large: the image is over the model's input limit",
    "422": "Input validation error: image must be at most 512x512",
}


def _size(target: object) -> tuple[int, int] | None:
    if isinstance(target, dict) and isinstance(target.get("width"), int) and isinstance(target.get("height"), int):
        return target["width"], target["height"]
    return None


def png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def hf_router(state: HFRouterState | None = None) -> LocalServer:
    """An HF router on 127.0.0.1; use as a context manager, then ``.url`` and ``.state``."""
    return LocalServer(HFRouterHandler, state or HFRouterState())
