"""The "budget" preset: the best model that finishes this image within the time budget, on this machine.

Speed is what this machine measured, never a figure from elsewhere: kilopixels computed per second (tile
context and the squeeze-excitation pre-pass included, so that an estimate is the tiler's real work divided
by the speed), per model file, runtime, precision and thread count. A model with no figure yet is measured
once, on a small real crop (:func:`calibrate`), and every real run refreshes its figure
(:meth:`SpeedBook.record`), so a busy machine's slower runs move the estimate too.

The book is a small JSON file in the data folder (``local-speeds.json``): read once per process, written
atomically after each change; a file that is unreadable, too large or holds anything but positive finite
numbers is ignored (and rewritten), and a folder that cannot be written keeps the figures in memory only.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

FILE_NAME = "local-speeds.json"
MAX_FILE_BYTES = 256 * 1024  # a few hundred entries at most; anything larger is not ours
MAX_ENTRIES = 1000
MAX_KPX_S = 1e7  # far above any CPU or GPU here (waifu2x on OpenVINO bf16: ~1,500)
# Weight of a new measurement: a figure follows the machine's load within a few runs, and one odd run
# (a first, cold compile) moves it only halfway.
NEW_WEIGHT = 0.5
CALIBRATION_PX = 96  # a 96 px crop: x4plus on ncnn, the slowest pair, ~5 kpx/s: under 2 s per run


@dataclass(frozen=True)
class Choice:
    model: str
    seconds: float  # the estimate for this image
    why: str  # one line for the output's notes, e.g. "realesrgan-x4plus (time budget 30 s: about 12 s here)"


class SpeedBook:
    """Measured kpx/s per key (see :func:`speed_key`), kept in ``folder``; safe to share between threads."""

    def __init__(self, folder: str | os.PathLike | None):
        self.path = Path(folder) / FILE_NAME if folder is not None else None
        self._lock = threading.Lock()
        self._speeds: dict[str, float] | None = None

    def speed(self, key: str) -> float | None:
        with self._lock:
            return self._loaded().get(key)

    def record(self, key: str, kilopixels: float, seconds: float) -> None:
        """Fold one measured run into the key's figure and save the book."""
        if not (kilopixels > 0 and seconds > 0 and math.isfinite(kilopixels / seconds)):
            return
        measured = min(kilopixels / seconds, MAX_KPX_S)
        with self._lock:
            speeds = self._loaded()
            old = speeds.get(key)
            speeds[key] = measured if old is None else old + NEW_WEIGHT * (measured - old)
            if len(speeds) > MAX_ENTRIES:
                speeds.pop(next(iter(speeds)))
            self._save(speeds)

    def _loaded(self) -> dict[str, float]:
        if self._speeds is None:
            self._speeds = _read(self.path) if self.path is not None else {}
        return self._speeds

    def _save(self, speeds: dict[str, float]) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, prefix=".speeds-", delete=False) as file:
                json.dump(speeds, file, indent=0, sort_keys=True)
            os.replace(file.name, self.path)
        except OSError as error:  # a read-only data folder: the figures live on in memory
            logger.debug("local speeds not saved (%s)", type(error).__name__)


_BOOKS: dict[str, SpeedBook] = {}
_BOOKS_LOCK = threading.Lock()


def book_for(folder: str | os.PathLike) -> SpeedBook:
    """The process's one book for ``folder``: every engine of the process (one per configuration) shares it,
    so none overwrites the file with an older copy of the figures."""
    key = os.path.abspath(folder)
    with _BOOKS_LOCK:
        return _BOOKS.setdefault(key, SpeedBook(key))


def _read(path: Path) -> dict[str, float]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: float(value) for key, value in list(data.items())[:MAX_ENTRIES]
            if isinstance(key, str) and len(key) <= 300 and isinstance(value, (int, float))
            and not isinstance(value, bool) and 0 < value <= MAX_KPX_S and math.isfinite(value)}


def speed_key(model_file: str, runtime_description: str) -> str:
    """e.g. 'realesrgan-x4plus|openvino cpu bf16 (2 threads)': a figure holds for one file on one runtime."""
    return f"{model_file}|{runtime_description}"


def calibrate(run: Callable[[np.ndarray], object], grid: int) -> tuple[float, float]:
    """(kilopixels, seconds) of one run of ``run`` on a real-looking crop, after one untimed warm-up run."""
    size = -(-CALIBRATION_PX // grid) * grid
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32) / size
    generator = np.random.default_rng(7)  # gradients, edges and noise: a photo's mix, not a flat field
    crop = np.stack([rows, columns, (rows + columns) / 2], axis=2) * 0.8 + 0.1
    crop = np.clip(crop + generator.normal(0, 0.04, crop.shape).astype(np.float32), 0, 1)
    run(crop)
    started = time.perf_counter()
    run(crop)
    return size * size / 1000, time.perf_counter() - started


def choose(ladder: Sequence[str], estimate: Callable[[str], float], budget_s: float) -> Choice:
    """The first model of ``ladder`` (best first) whose estimate fits ``budget_s``; else the fastest.

    Estimates are asked for lazily, best first: a model below the one that fits is never measured."""
    seen: dict[str, float] = {}
    for model in ladder:
        seen[model] = estimate(model)
        if seen[model] <= budget_s:
            slower = "".join(f"; {better} would take about {_seconds(seconds)}" for better, seconds in seen.items()
                             if better != model)
            return Choice(model, seen[model], f"{model} (time budget {_seconds(budget_s)}: about "
                                              f"{_seconds(seen[model])} here{slower})")
    fastest = min(seen, key=seen.__getitem__)
    return Choice(fastest, seen[fastest], f"{fastest} (time budget {_seconds(budget_s)}: the fastest, about "
                                          f"{_seconds(seen[fastest])} here, over the budget)")


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
