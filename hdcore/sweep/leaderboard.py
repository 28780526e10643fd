"""The leaderboard: one line per provider x model x scale (x degradation), and two sweeps compared.

Each score's mean comes with a 95 % confidence interval by Student's t (mean +- t(0.975, n-1) s / sqrt(n),
s the sample deviation over the images): the interval of the mean over this image set, not of one image. It
needs two images; with one, low and high are None. Failed calls count in ``failures``; the scores, the mean
latency and the mean cost are over the successful ones; ``cost_usd_total`` is over every call.

Lines are sorted by degradation, then scale, then PSNR-Y, best first (lines with no successful call last).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from .results import SCORE_COLUMNS, SweepResult, SweepRow

GroupKey = tuple[str, str, int, str]  # provider, model, scale, degradation

# t(0.975, df) for df = 1..30 (from scipy.stats.t.ppf; the tests check them); beyond, a series in 1/df.
_T_975 = (
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252, 2.306004135,
    2.262157163, 2.228138852, 2.200985160, 2.178812830, 2.160368656, 2.144786688, 2.131449546, 2.119905299,
    2.109815578, 2.100922040, 2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.068657610, 2.063898562,
    2.059538553, 2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
)
_Z_975 = 1.959963984540054

LEADERBOARD_COLUMNS = (
    "provider", "model", "scale", "degradation", "images", "failures",
    *(f"{name}{suffix}" for name in SCORE_COLUMNS for suffix in ("", "_low", "_high")),
    "latency_s", "cost_usd_mean", "cost_usd_total",
)
COMPARED = ("psnr_y", "ssim_y", "lr_psnr", "sharpness", "niqe", "latency_s", "cost_usd")


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (Cornish-Fisher beyond 30: < 1e-6 off)."""
    if df < 1:
        raise ValueError("the t distribution needs at least one degree of freedom")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = _Z_975
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * df**4))


def mean_interval(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) of a 95 % t-interval; (None, None, None) without values, no interval with one."""
    if not values:
        return None, None, None
    count = len(values)
    mean = math.fsum(values) / count
    if count == 1:
        return mean, None, None
    deviation = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (count - 1))
    half = t_quantile_975(count - 1) * deviation / math.sqrt(count)
    return mean, mean - half, mean + half


def group_key(row: SweepRow) -> GroupKey:
    return (row.provider, row.model or "", row.scale, row.degradation)


def leaderboard(rows: Iterable[SweepRow]) -> list[dict[str, Any]]:
    """One line per provider x model x scale x degradation (LEADERBOARD_COLUMNS), sorted (module docstring)."""
    groups: dict[GroupKey, list[SweepRow]] = {}
    for row in rows:
        groups.setdefault(group_key(row), []).append(row)
    lines = [_line(key, members) for key, members in groups.items()]
    return sorted(lines, key=_order)


def _line(key: GroupKey, rows: list[SweepRow]) -> dict[str, Any]:
    provider, model, scale, degradation = key
    done = [row for row in rows if row.ok]
    line: dict[str, Any] = {"provider": provider, "model": model, "scale": scale, "degradation": degradation,
                            "images": len(done), "failures": len(rows) - len(done)}
    for name in SCORE_COLUMNS:
        values = [value for row in done if (value := getattr(row, name)) is not None and math.isfinite(value)]
        mean, low, high = mean_interval(values)
        line.update({name: mean, f"{name}_low": low, f"{name}_high": high})
    line["latency_s"] = mean_interval([row.latency_s for row in done])[0]
    line["cost_usd_mean"] = mean_interval([row.cost_usd for row in done])[0]
    line["cost_usd_total"] = math.fsum(row.cost_usd for row in rows)
    return line


def _order(line: dict[str, Any]) -> tuple:
    psnr = line["psnr_y"]
    return (line["degradation"], line["scale"], psnr is None, -(psnr or 0.0), line["provider"], line["model"])


def label(line: dict[str, Any]) -> str:
    provider, model = line["provider"], line["model"]
    return provider if not model or model in (provider, "matlab-imresize") else f"{provider}/{model}"


def compare(a: SweepResult, b: SweepResult) -> list[dict[str, Any]]:
    """Per provider x model x scale x degradation: each figure's mean in ``a`` and ``b`` and ``b - a``.

    Paired: the means are over the images both sweeps scored successfully (``images``), so a change in the
    image set does not pass for a change in quality. ``failures_a`` / ``failures_b`` count each sweep's
    failed calls; a line present in one sweep only has ``images`` 0 and no deltas.
    """
    rows_a, rows_b = _by_group(a.rows), _by_group(b.rows)
    lines = []
    for key in sorted(set(rows_a) | set(rows_b), key=lambda k: (k[3], k[2], k[0], k[1])):
        left, right = rows_a.get(key, {}), rows_b.get(key, {})
        common = [image for image in left if image in right and left[image].ok and right[image].ok]
        line: dict[str, Any] = dict(zip(("provider", "model", "scale", "degradation"), key))
        line.update(images=len(common), failures_a=sum(not r.ok for r in left.values()),
                    failures_b=sum(not r.ok for r in right.values()))
        for name in COMPARED:
            mean_a = _paired_mean(left, common, name)
            mean_b = _paired_mean(right, common, name)
            line.update({f"{name}_a": mean_a, f"{name}_b": mean_b,
                         f"{name}_delta": None if mean_a is None or mean_b is None else mean_b - mean_a})
        lines.append(line)
    return lines


def _by_group(rows: Iterable[SweepRow]) -> dict[GroupKey, dict[str, SweepRow]]:
    groups: dict[GroupKey, dict[str, SweepRow]] = {}
    for row in rows:
        groups.setdefault(group_key(row), {})[row.image] = row
    return groups


def _paired_mean(rows: dict[str, SweepRow], images: list[str], name: str) -> float | None:
    values = [v for image in images if (v := getattr(rows[image], name)) is not None and math.isfinite(v)]
    return math.fsum(values) / len(values) if values else None


def format_table(lines: Sequence[dict[str, Any]]) -> str:
    """The leaderboard as a plain-text table (mean +- the 95 % interval's half-width)."""
    header = ["provider/model", "scale", "images", "failed", "PSNR-Y dB", "SSIM-Y", "NIQE", "LR PSNR", "latency",
              "cost"]
    table = [header] + [_cells(line) for line in lines]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in
                      enumerate(zip(row, widths))).rstrip() for row in table]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def _cells(line: dict[str, Any]) -> list[str]:
    latency = line["latency_s"]
    return [
        label(line), f"{line['scale']}x", str(line["images"]), str(line["failures"]),
        _with_interval(line, "psnr_y", 2), _with_interval(line, "ssim_y", 4), _with_interval(line, "niqe", 2),
        _with_interval(line, "lr_psnr", 2), "-" if latency is None else f"{latency:.2f} s",
        f"${line['cost_usd_total']:.4f}",
    ]


def _with_interval(line: dict[str, Any], name: str, digits: int) -> str:
    mean, high = line[name], line[f"{name}_high"]
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" if high is None else f"{mean:.{digits}f} ±{high - mean:.{digits}f}"
