"""Writing a file so that readers only ever see it whole: a temporary beside it, renamed over it at the end.

The temporary is created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``) under a name no earlier run used, so a
file or a symlink planted at a predictable name (``photo_x2.png.part`` -> ``~/.bashrc``) is never followed nor
overwritten; it is removed when writing fails (a full disk, a size limit, an interrupt), so nothing partial is
left behind; and the rename replaces the final name itself, never a file a symlink there points to.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import IO, Iterator

_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_BINARY", 0))  # fmt: skip
TEMPORARY_SUFFIX = ".part"
NAME_CHARS = 64  # of the final name kept in the temporary's: recognisable, and far from the 255-byte limit
ATTEMPTS = 100  # a random 12-hex-digit name clashes with a stray file once in 2**48: 100 tries never run out


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file to write that becomes ``path`` when the block ends, and is gone if the block raises.

    Its folder is created when missing; its permissions are a new file's (0666 less the umask).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = _exclusive_temporary(final)
    try:
        with os.fdopen(descriptor, "wb") as file:
            yield file
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_atomically(path: str | os.PathLike[str], data: bytes | str) -> None:
    """``data`` (text as UTF-8) as the whole of ``path``, or ``path`` unchanged when writing fails."""
    with replaced_atomically(path) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)


def _exclusive_temporary(final: Path) -> tuple[int, Path]:
    for _ in range(ATTEMPTS):
        temporary = final.with_name(f".{final.name[:NAME_CHARS]}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}")
        try:
            return os.open(temporary, _CREATE_FLAGS, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {final.name}")
