"""The Space's answer: where its image is, and fetching it safely.

A Space answers with FileData (``url`` and ``path``), a gradio 3 ``name``, a data URI, or a tuple of these (its
last image is the result). The image is fetched only from the Space's own origin and Hugging Face's file hosts
(``*.hf.space``, ``huggingface.co``); any other URL, and any redirect to one, is refused with one message that
never varies with the target's state (no port scan through us). Redirects are followed by hand, a few at most:
credentials (the client's headers, which hold the token for a Hugging Face Space, and its cookies) go only to
the Space's own origin, never with a redirect elsewhere (httpx strips only ``Authorization``).

The body is checked against the declared Content-Length first, then read in chunks into one buffer up to a cap
derived from the size the Space should answer at, with the deadline and the cancel flag checked between chunks.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from ... import images
from ...errors import BadOutput, InvalidImage
from ..remote import CallScope, declared_length, displayed_url, on_hosts, origin, read_capped, socket_wait

log = logging.getLogger(__name__)

HF_FILE_HOSTS = ("hf.space", "huggingface.co")
REMOTE_PREFIXES = ("http://", "https://", "data:")
MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
SOCKET_TIMEOUT_S = 30.0  # each read of the output file, when the tier runs without a deadline
REFUSED = "the Space's answer points outside the Space and Hugging Face's file hosts; not fetched"


def file_location(answer: Any, root: str) -> str | None:
    """Where the answer's image is: an http(s) URL (or a data URI), or None when the answer holds no file."""
    if isinstance(answer, (list, tuple)):
        for item in reversed(answer):
            location = file_location(item, root)
            if location is not None:
                return location
        return None
    if isinstance(answer, dict):
        url = answer.get("url")
        if isinstance(url, str) and url:  # whatever it names (file:, ftp:...): ``fetch`` decides where it may go
            return url
        path = answer.get("path") or answer.get("name")
        return _file_url(path, root) if isinstance(path, str) and path else None
    if isinstance(answer, str) and answer:
        return answer if answer.startswith(REMOTE_PREFIXES) else _file_url(answer, root)
    return None


def _file_url(path: str, root: str) -> str:
    """A file on the app's machine, as the app serves it (what gradio_client itself downloads)."""
    from gradio_client.utils import encode_file_path

    return root + "file=" + encode_file_path(path)


def kind_of(answer: Any) -> str:
    return type(answer).__name__ if not isinstance(answer, str) else "text"


def may_fetch(url: str, space_root: str) -> bool:
    """The Space's own origin, or a Hugging Face file host over https."""
    return origin(url) == origin(space_root) or on_hosts(url, HF_FILE_HOSTS)


def fetch(scope: CallScope, client: Any, location: str, limit: int) -> bytes:
    """The image's bytes: inline, or fetched from where it may be, within ``limit`` bytes and the deadline."""
    if location.startswith("data:"):
        return _inline(scope, location, limit)
    import httpx

    root = client.src_prefixed
    url = location
    for _ in range(MAX_REDIRECTS + 1):
        if not may_fetch(url, root):
            raise scope.error(BadOutput, REFUSED)
        own = origin(url) == origin(root)
        timeout = httpx.Timeout(socket_wait(scope.request, SOCKET_TIMEOUT_S))
        log.debug("GET %s", displayed_url(url))
        with httpx.stream("GET", url, headers=client.headers if own else {}, cookies=client.cookies if own else {},
                          timeout=timeout, follow_redirects=False, verify=client.ssl_verify) as response:
            if response.is_redirect:
                url = urllib.parse.urljoin(url, response.headers.get("location", ""))
                continue
            if not response.is_success:
                raise scope.error(BadOutput, f"the Space's image could not be fetched (HTTP {response.status_code})")
            return _body(scope, response, limit)
    raise scope.error(BadOutput, f"the Space's image is behind more than {MAX_REDIRECTS} redirects; not fetched")


def _body(scope: CallScope, response: Any, limit: int) -> bytes:
    declared = declared_length(response.headers)
    if declared is not None and declared > limit:
        raise scope.error(BadOutput, f"the Space's file of {declared:,} bytes is over the {limit:,}-byte limit")
    return read_capped(
        response.iter_bytes(CHUNK_BYTES),
        limit,
        lambda: scope.error(BadOutput, f"the Space's file is over the {limit:,}-byte limit"),
        check_before=scope.stop_if_due,
    )


def _inline(scope: CallScope, data_uri: str, limit: int) -> bytes:
    if len(data_uri) > limit * 4 // 3 + 1024:  # base64 of more than ``limit`` bytes: refused before decoding
        raise scope.error(BadOutput, f"the Space's inline image is over the {limit:,}-byte limit")
    try:
        return images.read_source_bytes(data_uri, allow_paths=False)
    except InvalidImage as error:
        raise scope.error(BadOutput, f"the Space answered with no usable image: {error}") from error
