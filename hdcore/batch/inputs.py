"""A batch's inputs: files, folders (their images; ``recursive`` for subfolders) and glob patterns, each with
its output path (mirroring subfolders under an output folder). Files that are another input's output (a resumed
run over the folder it writes to) are left out; ``resume`` decides which outputs a previous run completed."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from .. import images
from ..errors import InvalidInput

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif"})
SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
ANIMATED_SUFFIXES = frozenset({".gif", ".webp", ".png", ".apng"})  # files that may hold an animation
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class FoundInput:
    """An input file, and the subfolder it sits in below the folder or glob that found it."""

    path: Path
    subfolder: Path = Path()
    explicit: bool = True  # named on its own, not found in a folder or by a glob


def expand_inputs(patterns: Sequence[str], recursive: bool = False) -> tuple[list[FoundInput], list[str]]:
    """The files behind ``patterns`` (files, folders, globs), in order, each once; and what matched nothing.

    A name that is neither an existing folder nor a glob is kept as it is, so that reading it reports the
    problem ("file not found") like any other bad input.
    """
    found: list[FoundInput] = []
    problems: list[str] = []
    for pattern in patterns:
        matches = _expand_one(pattern, recursive)
        if matches is None:
            problems.append(_nothing_found(pattern))
        else:
            found.extend(matches)
    return _unique(found), problems


def _expand_one(pattern: str, recursive: bool) -> list[FoundInput] | None:
    path = Path(pattern).expanduser()
    if path.is_dir():
        return _images_in_folder(path, recursive) or None
    if path.exists() or not _is_glob(pattern):
        return [FoundInput(path)]
    root = _glob_root(pattern)
    matches = [Path(match) for match in sorted(glob.glob(os.path.expanduser(pattern), recursive=recursive))]
    files = [FoundInput(m, _subfolder(m, root), explicit=False) for m in matches if m.is_file() and _is_image_name(m)]
    return files or None


def _images_in_folder(folder: Path, recursive: bool) -> list[FoundInput]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(p for p in candidates if p.is_file() and _is_image_name(p))
    return [FoundInput(p, _subfolder(p, folder), explicit=False) for p in files]


def _is_glob(pattern: str) -> bool:
    return any(character in GLOB_CHARACTERS for character in pattern)


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _glob_root(pattern: str) -> Path:
    """The folder a glob searches from: its leading parts without wildcards."""
    parts = Path(os.path.expanduser(pattern)).parts
    plain = []
    for part in parts[:-1]:
        if _is_glob(part):
            break
        plain.append(part)
    return Path(*plain) if plain else Path()


def _subfolder(path: Path, root: Path) -> Path:
    try:
        return path.parent.relative_to(root)
    except ValueError:
        return Path()


def _nothing_found(pattern: str) -> str:
    if Path(pattern).expanduser().is_dir():
        return f"no images in folder {pattern}"
    return f"no image file matches {pattern}"


def _unique(found: list[FoundInput]) -> list[FoundInput]:
    seen: set[Path] = set()
    unique = []
    for entry in found:
        key = entry.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


@dataclass(frozen=True)
class BatchItem:
    """One input and where its output goes."""

    index: int
    source: Path
    output: Path  # with the requested format's suffix; the written one may differ (RGBA asked as JPEG: PNG)
    archive_name: str  # its name inside the zip


def output_suffix(format: str) -> str:
    """The file suffix for an output format name ("png", "jpeg" or "jpg", "webp")."""
    name = str(format).strip().lower().lstrip(".")
    name = images.FORMAT_ALIASES.get(name, name)
    if name not in SUFFIXES:
        raise InvalidInput(f"unknown output format {format!r}: choose png, jpeg or webp")
    return SUFFIXES[name]


def output_name(file_name: str, size: float | str, suffix: str) -> str:
    """The output's file name for an input's: "photo.jpg" at 2x as PNG -> "photo_x2.png"; ``size`` is a factor or
    the label ``size_label`` makes ("w3840")."""
    label = size if isinstance(size, str) else size_label(size)
    return f"{PurePosixPath(file_name).stem}_{label}{suffix}"


def plan_items(
    found: Sequence[FoundInput],
    scale: float | str,
    format: str = "png",
    out_dir: str | Path | None = None,
    output: str | Path | None = None,
) -> tuple[list[BatchItem], list[str]]:
    """Each input's output path: ``output`` (one input), else ``out_dir``/subfolder, else beside the input,
    named ``<stem>_<size><suffix>`` (``size``: ``x4`` for a factor, or the label ``size_label`` makes for a target
    size). Returns the items and the problems (two inputs, one output)."""
    suffix = output_suffix(format)
    planned = [(entry, _planned_output(entry, scale, suffix, out_dir, output)) for entry in found]
    outputs = {path.resolve() for _, path in planned}
    # An animation's output is written in its own format: "anim_x2.gif", not the planned "anim_x2.png".
    outputs |= {path.with_suffix(entry.path.suffix).resolve() for entry, path in planned
                if entry.path.suffix.lower() in ANIMATED_SUFFIXES}  # fmt: skip
    # A file found in a folder that is another input's output is a previous run's result, not an input.
    planned = [(e, p) for e, p in planned if e.explicit or e.path.resolve() not in outputs]
    items: list[BatchItem] = []
    problems: list[str] = []
    claimed: dict[Path, Path] = {}
    for entry, path in planned:
        first = claimed.setdefault(path.resolve(), entry.path)
        if first != entry.path:
            problems.append(f"{entry.path}: its output {path} is also {first}'s; use another --out-dir")
            continue
        items.append(BatchItem(len(items), entry.path, path, _archive_name(entry, path, out_dir)))
    return items, problems


def size_label(scale: float | None = 4, width: int | None = None, height: int | None = None,
               longest_side: int | None = None) -> str:
    """How an output's name says its size: "x4", "x2.5", "w3840", "h1080", "3840x2160", "long2000"."""
    if width is not None and height is not None:
        return f"{width}x{height}"
    if width is not None or height is not None:
        return f"w{width}" if width is not None else f"h{height}"
    if longest_side is not None:
        return f"long{longest_side}"
    return f"x{float(4 if scale is None else scale):g}"


def _planned_output(entry: FoundInput, scale: float | str, suffix: str, out_dir: str | Path | None,
                    output: str | Path | None) -> Path:
    if output is not None:
        return Path(output)
    name = output_name(entry.path.name, scale, suffix)
    if out_dir is not None:
        return Path(out_dir) / entry.subfolder / name
    return entry.path.parent / name


def _archive_name(entry: FoundInput, path: Path, out_dir: str | Path | None) -> str:
    return (entry.subfolder / path.name).as_posix() if out_dir is not None else path.name
