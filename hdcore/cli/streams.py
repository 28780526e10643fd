"""Output whose reader may go away: ``python -m hdcore upscale … | head -1`` closes stdout after one line.

Python ignores SIGPIPE, so each later write raises BrokenPipeError; left alone it would abort the batch and,
at exit, print "Exception ignored … BrokenPipeError" as Python flushes the stream once more. Instead the
stream whose reader left is pointed at /dev/null (what Python's documentation advises), its output ends
quietly, and the work goes on: the images are still written, and so is ``--zip``.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from typing import Iterator, TextIO

EXIT_OK, EXIT_USAGE, EXIT_ALL_FAILED = 0, 2, 3
EXIT_READER_GONE = 141  # 128 + SIGPIPE: what a shell reports for a program whose pipe's reader left


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Run the block; a BrokenPipeError from it silences the streams that lost their reader, and the block's
    remaining output is dropped."""
    try:
        yield
    except BrokenPipeError:
        silence_closed_streams()


def silence_closed_streams(streams: tuple[TextIO, ...] | None = None) -> bool:
    """Point each of ``streams`` (stdout and stderr) whose reader went away at /dev/null; True when any had."""
    silenced = False
    for stream in streams or (sys.stdout, sys.stderr):
        if _reader_gone(stream):
            silenced = _to_devnull(stream) or silenced
    return silenced


def _reader_gone(stream: TextIO) -> bool:
    """A buffered stream that failed keeps the unwritten text, so flushing it again fails again; stderr writes
    through and keeps nothing, but poll() reports POLLERR on a pipe whose reader closed it."""
    try:
        stream.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError):  # closed, or not a real file: nothing to silence
        return False
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows) or no file descriptor
        return False


def _to_devnull(stream: TextIO) -> bool:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's StringIO)
        return False
    return True


def print_error(message: str, stream: TextIO | None = None) -> None:
    """``hdcore: error: <message>`` on one line, terminal-safe, to stderr (or ``stream``)."""
    from ..text import terminal_safe

    with reader_may_leave():
        print(f"hdcore: error: {terminal_safe(message)}", file=stream or sys.stderr, flush=True)
