"""Names from outside (uploads, zip members) made into names any file system takes, each once.

A zip can name anything: ``../../etc/x.png``, ``C:\\x.png``, a 300-byte name, control characters and a
right-to-left override that disguises ``gnp.exe``, ``x.png`` beside a folder ``x.png/``, ``A.png`` beside
``a.png``. ``UniqueNames.name`` gives each a relative path of safe parts:

- no way out of the folder: empty, ``.`` and ``..`` parts, drive letters and leading dots are dropped;
- portable: control and format characters and ``<>:"|?*`` become ``_``, trailing dots and spaces go, Windows
  device names (``CON``, ``NUL``…) get a ``_``; Unicode is NFC, so one name typed two ways is one name;
- bounded: each part at most ``MAX_PART_BYTES`` of UTF-8, at most ``MAX_FOLDERS`` folders deep;
- unique as people and case-insensitive systems see them: by folder and stem, case-folded (``a.png`` and
  ``A.jpg`` would both give ``a_x2.png``), and never a file where a folder of the same name is (or the reverse):
  the second of two such names gets ``-2``, ``-3``… before its suffix.
"""

from __future__ import annotations

import re
import unicodedata

# ext4, APFS and NTFS allow 255 bytes a name; an output adds "_x4.webp" (8) and a clash "-100" (4): 200 leaves
# room for both and for what an unzip tool may add.
MAX_PART_BYTES = 200
MAX_FOLDERS = 8
UNSAFE_CHARACTERS = re.compile(r'[<>:"|?*\\]')
WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                             *(f"lpt{i}" for i in range(1, 10))})  # fmt: skip
FALLBACK_NAME = "image"


def safe_parts(name: str) -> list[str]:
    """The parts of ``name`` (folders, then the file), each made safe; at least one part."""
    parts = [_safe_part(part) for part in unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")]
    parts = [part for part in parts if part]
    folders, file = parts[:-1][:MAX_FOLDERS], parts[-1] if parts else FALLBACK_NAME
    return [*folders, file]


def display_name(name: str, limit: int = 80) -> str:
    """``name`` as a message may show it: its safe parts, cut to ``limit`` characters."""
    shown = "/".join(safe_parts(name))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def split_suffix(file: str) -> tuple[str, str]:
    """("photo", ".png"); a name without a dot (or only a leading one) has no suffix."""
    stem, dot, suffix = file.rpartition(".")
    return (stem, dot + suffix) if stem else (file, "")


def _safe_part(part: str) -> str:
    characters = ("_" if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in part)
    text = UNSAFE_CHARACTERS.sub("_", "".join(characters)).strip().rstrip(". ").lstrip(".").strip()
    if not text:
        return ""
    stem, suffix = split_suffix(text)
    if stem.lower() in WINDOWS_DEVICES:
        stem += "_"
    return fitted(stem, suffix)


def fitted(stem: str, suffix: str, extra: str = "") -> str:
    """``stem + extra + suffix`` within MAX_PART_BYTES, the stem cut at a character boundary if need be."""
    room = MAX_PART_BYTES - len((extra + suffix).encode("utf-8"))
    if room < 1:  # a suffix that long is no suffix anyone needs
        suffix, room = "", MAX_PART_BYTES - len(extra.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(". ") or FALLBACK_NAME
    return cut + extra + suffix


class UniqueNames:
    """Hands out safe names, each unique against those handed out before (see the module's rules)."""

    def __init__(self) -> None:
        self._stems: set[str] = set()  # "folder/stem" of every file, case-folded
        self._files: set[str] = set()  # "folder/name.png" of every file, case-folded
        self._folders: dict[str, str] = {}  # a folder as asked ("parent/part", case-folded) -> its given path
        self._given_folders: set[str] = set()

    def name(self, wanted: str) -> str:
        *folders, file = safe_parts(wanted)
        folder = self._folder(folders)
        stem, suffix = split_suffix(file)
        candidate, number = file, 1
        while self._file_clashes(folder, candidate, suffix):
            number += 1
            candidate = fitted(stem, suffix, f"-{number}")
        path = _joined(folder, candidate)
        self._files.add(path.casefold())
        self._stems.add(_joined(folder, split_suffix(candidate)[0]).casefold())
        return path

    def _file_clashes(self, folder: str, file: str, suffix: str) -> bool:
        path = _joined(folder, file).casefold()
        stem = _joined(folder, file[: len(file) - len(suffix)] if suffix else file).casefold()
        return stem in self._stems or path in self._given_folders

    def _folder(self, parts: list[str]) -> str:
        given = ""
        for part in parts:
            asked = _joined(given, part).casefold()
            if asked not in self._folders:
                candidate, number = part, 1
                while _joined(given, candidate).casefold() in self._files:  # a file already has this name
                    number += 1
                    candidate = fitted(part, "", f"-{number}")
                self._folders[asked] = _joined(given, candidate)
                self._given_folders.add(self._folders[asked].casefold())
            given = self._folders[asked]
        return given


def _joined(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name
