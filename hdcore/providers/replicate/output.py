"""A prediction's output: its URL read from the answer, the file fetched without the token (only from Replicate's
delivery hosts or the API's own origin, within the deadline, size-capped), decoded and fitted to the exact size."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import httpx
import numpy as np

from ... import images
from ...errors import BadOutput, InvalidInput, TransientError
from ...resize import lanczos_resize
from ..remote import ASPECT_TOLERANCE, aspect_error, read_capped
from .errors import Translator
from .transport import PredictionState, allowed_output_url

API_READ_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
MIN_OUTPUT_BYTES_CAP = 64 * 1024 * 1024
OUTPUT_BYTES_PER_PIXEL = 4  # a PNG of an RGB photo stays well under this
# Replicate deletes outputs about an hour after a prediction ends: a file that is gone says so.
GONE_STATUSES = (403, 404, 410)


def output_url(prediction: PredictionState, provider: str, model: str) -> str:
    """Image models answer with one URL or a list of them; the first is the image."""
    output = prediction.output
    if isinstance(output, list):
        output = next((item for item in output if isinstance(item, str)), None)
    if not isinstance(output, str) or not output.strip():
        if prediction.data_removed:
            raise BadOutput("Replicate removed the prediction's output (outputs are kept about an hour)",
                            provider=provider, model=model)  # fmt: skip
        raise BadOutput("prediction succeeded without an output file", provider=provider, model=model)
    return output.strip()


@dataclass(frozen=True)
class Download:
    """Fetches output files with a client of its own: no Authorization header, no redirects followed."""

    client: httpx.Client
    api_base_url: str
    translator: Translator

    @property
    def provider(self) -> str:
        return self.translator.provider

    def fetch(self, url: str, model: str, pixels: int, deadline: float, check: Callable[[], None]) -> bytes:
        """The file's bytes; ``check`` (the deadline and the caller's cancel) runs after every chunk."""
        limit = max(MIN_OUTPUT_BYTES_CAP, OUTPUT_BYTES_PER_PIXEL * pixels)
        if url.startswith("data:"):
            return self._from_data_uri(url, model, limit)
        if not allowed_output_url(url, self.api_base_url):
            host = urlsplit(url).hostname or url[:40]
            raise BadOutput(f"refusing to fetch output from {self.translator.safe(host)}", provider=self.provider,
                            model=model)  # fmt: skip
        left = max(0.05, deadline - time.monotonic())
        timeout = httpx.Timeout(min(left, API_READ_TIMEOUT_S), connect=min(left, CONNECT_TIMEOUT_S))
        with self.translator.translated(model, "downloading the output"):
            with self.client.stream("GET", url, timeout=timeout) as response:
                self._check_status(response, model, limit)
                return read_capped(response.iter_bytes(), limit, lambda: self._too_large(limit, model),
                                   check_after=check)  # fmt: skip

    def _from_data_uri(self, uri: str, model: str, limit: int) -> bytes:
        if len(uri) > limit * 4 // 3 + 1024:
            raise BadOutput(f"output data URI is over {limit:,} bytes", provider=self.provider, model=model)
        try:
            return images.read_source_bytes(uri, allow_paths=False)
        except InvalidInput as error:  # not an image, or too large to be one
            raise BadOutput(f"output is not an image: {error}", provider=self.provider, model=model) from error

    def _check_status(self, response: httpx.Response, model: str, limit: int) -> None:
        status = response.status_code
        where = {"provider": self.provider, "model": model}
        if status >= 500:
            raise TransientError(f"output download answered HTTP {status}", **where)
        if status in GONE_STATUSES:
            raise BadOutput(f"the output file is gone (HTTP {status}): Replicate keeps outputs about an hour", **where)
        if 300 <= status < 400:
            raise BadOutput(f"output download answered a redirect (HTTP {status}); not followed", **where)
        if status != 200:
            raise BadOutput(f"output download answered HTTP {status}", **where)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(limit, model)

    def _too_large(self, limit: int, model: str) -> BadOutput:
        return BadOutput(f"output is over {limit:,} bytes", provider=self.provider, model=model)


def decoded(data: bytes, max_pixels: int, provider: str, model: str) -> np.ndarray:
    try:
        return images.decode_output(data, max_pixels=max_pixels)
    except InvalidInput as error:
        raise BadOutput(f"output is not an image: {error}", provider=provider, model=model) from error


def fitted(
    color: np.ndarray, wanted: tuple[int, int], source: tuple[int, int], planned: tuple[int, int] | None,
    where: dict,
) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """The output at exactly ``wanted``; a planned size (3x via 4x) is resized without a warning.

    Not remote.fitted, the Hugging Face tiers' rule: here the shape is compared with the input's, another shape
    is refused outright, and an answer of the right shape is resized up as well as down (a model answering a
    size of its own, such as the refiner's 1024 or 2048 px, is asked for no scale at all).
    """
    got = (color.shape[1], color.shape[0])
    if got == wanted:
        return color, []
    if aspect_error(got, source) > ASPECT_TOLERANCE:
        message = f"output is {got[0]}x{got[1]}, not the shape of the {source[0]}x{source[1]} input"
        raise BadOutput(message, **where)
    if got == planned:
        return lanczos_resize(color, wanted), []
    warning = f"Replicate returned {got[0]}x{got[1]}; resized to {wanted[0]}x{wanted[1]}"
    return lanczos_resize(color, wanted), [warning]
