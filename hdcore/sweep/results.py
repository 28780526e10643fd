"""A sweep's rows (one per reference image x entry x scale) and the sweep as a whole.

``SweepRow.to_record`` / ``from_record`` are the plain-value form written to ``results.json`` / ``results.csv``
and read back on resume (every value checked: the file is outside data). ``SweepResult.to_records`` is the
form to store a sweep in; ``leaderboard.compare`` puts two of them side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

COLUMNS = (
    "image", "entry", "provider", "model", "scale", "degradation", "outcome", "reason", "psnr_y", "ssim_y",
    "lr_psnr", "sharpness", "niqe", "latency_s", "cost_usd", "cost_kind",
)
SCORE_COLUMNS = ("psnr_y", "ssim_y", "lr_psnr", "sharpness", "niqe")
OUTCOMES = frozenset({"ok", "error", "timeout", "skipped"})
COST_KINDS = frozenset({"measured", "estimated", "none"})
MAX_TEXT = 4096  # longest image name or reason accepted from a results file

# The literature's baseline, computed in-process (MATLAB's bicubic imresize), swept beside every entry.
BASELINE = "bicubic"
BASELINE_MODEL = "matlab-imresize"

Key = tuple[str, str, int, str]  # image, entry, scale, degradation


@dataclass(frozen=True)
class SweepRow:
    """One entry's upscale of one reference at one scale: how it went, its scores, latency and cost."""

    image: str  # the reference's path, as found
    entry: str  # as asked: "provider" or "provider:model"
    provider: str
    model: str | None  # the model that ran (or was asked for, when nothing ran)
    scale: int
    degradation: str  # "bicubic", or "realistic:<seed>"
    outcome: str  # "ok", or the failure: "error", "timeout", "skipped"
    reason: str = ""
    psnr_y: float | None = None
    ssim_y: float | None = None
    lr_psnr: float | None = None
    sharpness: float | None = None
    niqe: float | None = None
    latency_s: float = 0.0
    cost_usd: float = 0.0
    cost_kind: str = "none"

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def key(self) -> Key:
        return (self.image, self.entry, self.scale, self.degradation)

    @property
    def label(self) -> str:
        """ "provider/model" ("bicubic", "lanczos" alone when the model is the provider)."""
        if not self.model or self.model in (self.provider, BASELINE_MODEL):
            return self.provider
        return f"{self.provider}/{self.model}"

    def to_record(self) -> dict[str, Any]:
        """Plain values in COLUMNS order; figures rounded, an infinite PSNR as None."""
        record = {name: getattr(self, name) for name in COLUMNS}
        for name, digits in (("psnr_y", 4), ("ssim_y", 5), ("lr_psnr", 4), ("sharpness", 2), ("niqe", 4)):
            record[name] = _rounded(record[name], digits)
        record["latency_s"] = round(self.latency_s, 4)
        record["cost_usd"] = round(self.cost_usd, 6)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SweepRow:
        """A row from its record (JSON values, or CSV text); ValueError naming the first bad field."""
        if not isinstance(record, Mapping):
            raise ValueError("a row must be an object")
        values = {
            "image": _text(record, "image", required=True),
            "entry": _text(record, "entry", required=True),
            "provider": _text(record, "provider", required=True),
            "model": _text(record, "model") or None,
            "scale": _whole(record, "scale"),
            "degradation": _text(record, "degradation", required=True),
            "outcome": _choice(record, "outcome", OUTCOMES),
            "reason": _text(record, "reason"),
            "latency_s": _number(record, "latency_s") or 0.0,
            "cost_usd": _number(record, "cost_usd") or 0.0,
            "cost_kind": _choice(record, "cost_kind", COST_KINDS),
        }
        values.update({name: _number(record, name) for name in SCORE_COLUMNS})
        return cls(**values)


@dataclass
class SweepResult:
    """Every row of a sweep, the settings that made it, and the references it could not use."""

    rows: list[SweepRow]
    entries: tuple[str, ...]
    scales: tuple[int, ...]
    degradation: str
    references: list[str] = field(default_factory=list)  # the images swept, in order
    problems: list[str] = field(default_factory=list)  # one line per reference that could not be used
    reused: int = 0  # rows taken from a previous run's results (resume)
    out_dir: Path | None = None

    @property
    def failures(self) -> int:
        return sum(not row.ok for row in self.rows)

    @property
    def every_entry_failed(self) -> bool:
        """No entry but the bicubic baseline produced a single image (CLI exit 3)."""
        entries = [row for row in self.rows if row.entry != BASELINE]
        return bool(entries) and not any(row.ok for row in entries)

    def leaderboard(self) -> list[dict[str, Any]]:
        from .leaderboard import leaderboard

        return leaderboard(self.rows)

    def to_records(self) -> list[dict[str, Any]]:
        return [row.to_record() for row in self.rows]

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> SweepResult:
        """A stored sweep back from its records; the settings are read off the rows."""
        rows = [SweepRow.from_record(record) for record in records]
        return cls(
            rows=rows,
            entries=tuple(dict.fromkeys(row.entry for row in rows)),
            scales=tuple(sorted({row.scale for row in rows})),
            degradation=rows[0].degradation if rows else "",
            references=list(dict.fromkeys(row.image for row in rows)),
        )


def _rounded(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _text(record: Mapping[str, Any], name: str, required: bool = False) -> str:
    value = record.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    if len(value) > MAX_TEXT or (required and not value):
        raise ValueError(f"{name} must be 1 to {MAX_TEXT} characters" if required else f"{name} is too long")
    return value


def _whole(record: Mapping[str, Any], name: str) -> int:
    value = record.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
        raise ValueError(f"{name} must be a whole number from 1 to 16")
    return value


def _number(record: Mapping[str, Any], name: str) -> float | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{name} must be a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return float(value)


def _choice(record: Mapping[str, Any], name: str, choices: frozenset[str]) -> str:
    value = record.get(name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(sorted(choices))}")
    return value
