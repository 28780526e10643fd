"""Reading the bytes behind each kind of input: bytes, base64, data URIs and paths."""

from __future__ import annotations

import base64
import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdcore.errors import ImageTooLarge, InvalidImage
from hdcore.images import decode_output, load_image, max_source_bytes, read_source_bytes
from tests.images.helpers import WIDTH, HEIGHT, astronaut, encoded, assert_one_line, as_uint8, svg_bytes


@pytest.fixture
def png_bytes() -> bytes:
    return encoded(Image.fromarray(astronaut()))


def test_every_input_kind_decodes_to_the_same_pixels(png_bytes: bytes, tmp_path: Path) -> None:
    standard = base64.b64encode(png_bytes).decode()
    assert "+" in standard or "/" in standard  # so the URL-safe variant really differs
    urlsafe_unpadded = base64.urlsafe_b64encode(png_bytes).decode().rstrip("=")
    wrapped = "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76))
    file_path = tmp_path / "photo.png"
    file_path.write_bytes(png_bytes)
    sources = [
        png_bytes,
        bytearray(png_bytes),
        memoryview(png_bytes),
        standard,
        urlsafe_unpadded,
        "  " + wrapped + "\n",
        "data:image/png;base64," + standard,
        str(file_path),
        file_path,
        Image.open(io.BytesIO(png_bytes)),
        astronaut(),
    ]
    for source in sources:
        loaded = load_image(source)
        assert loaded.size == (WIDTH, HEIGHT)
        assert loaded.color.dtype == np.float32 and loaded.color.shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_array_equal(as_uint8(loaded.color), astronaut(), err_msg=type(source).__name__)


def test_base64_jpeg_starting_with_a_slash_is_not_taken_for_a_path() -> None:
    text = base64.b64encode(encoded(Image.fromarray(astronaut()), "JPEG")).decode()
    assert text.startswith("/9j/")
    assert load_image(text).format == "JPEG"


def test_percent_encoded_data_uri_is_read() -> None:
    with pytest.raises(InvalidImage) as error:
        load_image("data:image/svg+xml,%3Csvg%20xmlns%3D%22http://www.w3.org/2000/svg%22/%3E")
    assert_one_line(error, "SVG is not supported")


def test_directory_is_rejected(tmp_path: Path) -> None:
    for source in (tmp_path, str(tmp_path)):
        with pytest.raises(InvalidImage) as error:
            load_image(source)
        assert_one_line(error, "is a directory", str(tmp_path))


UNUSABLE_TEXT_AND_PATHS = [
    ("", "empty input"),
    ("   \n", "empty input"),
    (svg_bytes().decode(), "SVG is not supported"),
    ("data:image/svg+xml;base64," + base64.b64encode(svg_bytes()).decode(), "SVG is not supported"),
    (base64.b64encode(svg_bytes()).decode(), "SVG is not supported"),
    ("this is not base64!", "not valid base64"),
    ("abcde", "not valid base64"),
    ("data:image/png;base64", "not a valid data URI"),
    ("data:image/png;base64,@@@@", "not a valid data URI"),
    ("data:image/png;base64,", "empty input"),
    ("/no/such/dir/photo.png", "file not found: /no/such/dir/photo.png"),
    ("missing.png", "file not found: missing.png"),
    (Path("/no/such/file.webp"), "file not found: /no/such/file.webp"),
    (12345, "unsupported source type int"),
]


@pytest.mark.parametrize("source, fragment", UNUSABLE_TEXT_AND_PATHS, ids=range(len(UNUSABLE_TEXT_AND_PATHS)))
def test_unusable_text_or_path_is_rejected_with_a_one_line_message(source, fragment: str) -> None:
    with pytest.raises(InvalidImage) as error:
        load_image(source)
    assert_one_line(error, fragment)


# ------------------------------------------------------------------- paths: only when allowed, only regular files


def run_bounded(function, seconds: float = 5.0):
    """Run ``function`` in a thread and give up on it after ``seconds``; returns (finished, result or error)."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(_capture(function)), daemon=True)
    thread.start()
    thread.join(seconds)
    return (not thread.is_alive()), (outcome[0] if outcome else None)


def _capture(function):
    try:
        return function()
    except BaseException as error:  # handed back to the test, which asserts on it
        return error


def test_a_string_is_never_read_as_a_path_when_paths_are_not_allowed(tmp_path: Path) -> None:
    existing = tmp_path / "photo.png"
    existing.write_bytes(encoded(Image.fromarray(astronaut())))
    missing = tmp_path / "phoxo.png"  # the same length and shape of name, but no such file
    messages = []
    for path in (existing, missing):
        with pytest.raises(InvalidImage) as error:
            load_image(str(path), allow_paths=False)
        assert_one_line(error, "not valid base64")
        messages.append(str(error.value))
    assert messages[0] == messages[1]  # nothing tells an existing file from a missing one
    assert "file" not in messages[0] and "found" not in messages[0]


def test_a_path_object_is_refused_when_paths_are_not_allowed(tmp_path: Path) -> None:
    existing = tmp_path / "photo.png"
    existing.write_bytes(encoded(Image.fromarray(astronaut())))
    with pytest.raises(InvalidImage) as error:
        load_image(existing, allow_paths=False)
    assert_one_line(error, "paths are not accepted here")


def test_base64_and_data_uris_still_load_when_paths_are_not_allowed(png_bytes: bytes) -> None:
    text = base64.b64encode(png_bytes).decode()
    for source in (text, "data:image/png;base64," + text, png_bytes):
        loaded = load_image(source, allow_paths=False)
        np.testing.assert_array_equal(as_uint8(loaded.color), astronaut())


def test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    try:
        finished, outcome = run_bounded(lambda: load_image(str(fifo)))
        assert finished, "reading a FIFO blocked"
    finally:
        _release_readers(fifo)
    assert isinstance(outcome, InvalidImage) and "not a regular file" in str(outcome), outcome


def _release_readers(fifo: Path) -> None:
    """Open and close the FIFO's write end, so a reader blocked on it (the behaviour under test) wakes up."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # no reader is waiting: nothing to release
        pass


@pytest.mark.parametrize("system_file", ["/dev/zero", "/dev/null", "/proc/self/environ", "/sys/kernel/uevent_seqnum"])
def test_device_kernel_and_process_files_are_never_read(system_file: str) -> None:
    if not os.path.exists(system_file):
        pytest.fail(f"{system_file} is missing on this system: the test needs a Linux /dev, /proc and /sys")
    for source in (system_file, Path(system_file)):
        with pytest.raises(InvalidImage) as error:
            load_image(source)
        assert_one_line(error, "not a regular file", system_file)


def test_a_symlink_into_dev_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "photo.png"
    link.symlink_to("/dev/zero")
    with pytest.raises(InvalidImage) as error:
        load_image(str(link))
    assert_one_line(error, "not a regular file")


def test_a_file_larger_than_any_image_within_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    sparse = tmp_path / "huge.png"
    with open(sparse, "wb") as file:  # 65 MiB of holes: nothing is written to disk, and reading it is pointless
        file.truncate(65 * 1024 * 1024)
    for source in (str(sparse), sparse):
        with pytest.raises(ImageTooLarge) as error:
            load_image(source, max_pixels=1000)
        assert_one_line(error, "too large", "68,157,440 bytes", "67,108,864")


def test_the_byte_limit_grows_with_the_pixel_limit(tmp_path: Path, png_bytes: bytes) -> None:
    assert max_source_bytes(1000) == 64 * 1024 * 1024
    assert max_source_bytes(100_000_000) == 800_000_000  # 8 bytes a pixel: uncompressed 16-bit RGBA
    padded = tmp_path / "padded.png"
    padded.write_bytes(png_bytes + bytes(65 * 1024 * 1024))  # trailing bytes after IEND do not stop a decoder
    assert load_image(padded, max_pixels=10_000_000).size == (WIDTH, HEIGHT)
    with pytest.raises(ImageTooLarge):
        load_image(padded, max_pixels=1000)


def test_in_memory_data_over_the_byte_limit_is_refused() -> None:
    with pytest.raises(ImageTooLarge) as error:
        read_source_bytes(bytes(64 * 1024 * 1024 + 1), max_pixels=1000)
    assert_one_line(error, "image data is too large", "67,108,865 bytes")


def test_provider_answers_are_never_read_as_paths(tmp_path: Path, png_bytes: bytes) -> None:
    existing = tmp_path / "answer.png"
    existing.write_bytes(png_bytes)
    for answer in (str(existing), existing):
        with pytest.raises(InvalidImage):
            decode_output(answer)
