"""The Batch page's decisions: uploads (images and zips) into a batch, the batch run with a bar per batch and
per image, its rows, summary, failures and the zip to download."""

from __future__ import annotations

import dataclasses
import io
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Sequence

from .. import batch as batch_lib
from ..config import Config
from ..engine import Engine, ProgressEvent
from ..errors import Cancelled
from ..text import one_line, usd
from .common import UPLOAD_TYPES, Headline, error_message, finite, redact, short_label

BATCH_UPLOAD_TYPES = (*UPLOAD_TYPES, "zip")


@dataclass(frozen=True)
class BatchUpdate:
    """What one report of a running batch changes: the batch's bar, and one image's bar."""

    overall: tuple[float, str]
    index: int
    item: tuple[float, str]


class BatchTracker:
    """A ``batch.BatchReporter`` that turns the batch's reports into progress-bar updates for ``render``.

    run_batch reports on the caller's thread, so ``render`` may draw Streamlit elements. When ``render`` raises
    (Streamlit's stop/rerun request), the batch is cancelled (``cancel``) and the error kept for ``reraise``.
    """

    def __init__(self, names: Sequence[str], render: Callable[[BatchUpdate], None]):
        self.names = list(names)  # each image's name, by its index in the batch
        self.total = len(self.names)
        self.render = render
        self.done = 0
        self.failed = 0
        self.cancel = threading.Event()
        self.interrupted: BaseException | None = None

    def overall(self) -> tuple[float, str]:
        failed = f", {self.failed} failed" if self.failed else ""
        return (self.done / self.total if self.total else 1.0, f"{self.done} of {self.total} images done{failed}")

    def started(self, item: Any) -> None:
        self._show(item.index, (0.0, f"{self._name(item)}: starting…"))

    def progress(self, item: Any, event: ProgressEvent) -> None:
        name = f"{self._name(item)} · {short_label(event.provider)}"
        if event.stage == "progress" and event.total > 0:
            unit = event.message or "tile"  # an animation counts frames
            text = f"{name}: {unit} {event.done} of {event.total}"
            self._show(item.index, (min(1.0, event.done / event.total), text))
        elif event.stage == "start":
            self._show(item.index, (0.0, f"{name}: trying…"))
        elif event.stage == "waiting":
            self._show(item.index, (0.0, f"{name}: waiting for a free slot: place {event.done}"))
        elif event.stage == "failed":
            self._show(item.index, (0.0, f"{name}: {one_line(event.message) or 'failed'}"))

    def finished(self, result: Any) -> None:
        self.done += 1
        self.failed += result.status == "failed"
        name = self._name(result.item)
        if result.status == "failed":
            text = f"{name}: failed"
        elif result.status == "skipped":
            text = f"{name}: skipped"
        else:
            provider = result.record.get("provider", "")
            text = f"{name}: done by {short_label(provider)}" if provider else f"{name}: done"
        self._show(result.item.index, (1.0, text))

    def _name(self, item: Any) -> str:
        return self.names[item.index] if 0 <= item.index < len(self.names) else Path(item.source).name

    def _show(self, index: int, item: tuple[float, str]) -> None:
        if self.interrupted is not None:
            return
        try:
            self.render(BatchUpdate(self.overall(), index, item))
        except BaseException as error:  # noqa: BLE001 - Streamlit's control flow included
            self.interrupted = error
            self.cancel.set()

    def reraise(self) -> None:
        if self.interrupted is not None:
            raise self.interrupted


@dataclass
class BatchOutcome:
    """A finished batch: per-image results (paths relative to the batch, never the server's folders), the zip of
    the outputs with attempts.csv, and problems found before any image ran."""

    results: list[Any] = field(default_factory=list)  # batch.ItemResult, with item.source = the input's name
    zip_data: bytes = b""
    problems: list[str] = field(default_factory=list)
    error: str = ""  # the whole batch could not run (e.g. a model no tier serves)
    size_label: str = "x2"  # the outputs' size as their names say it: "x4", "w3840", "long2000"

    @property
    def ok(self) -> list[Any]:
        return [r for r in self.results if r.status == "ok"]

    @property
    def failed(self) -> list[Any]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def zip_name(self) -> str:
        return f"hd_enhance_{self.size_label}.zip"

    def zip_bytes(self) -> bytes:
        """The zip; a callable, so the download button hands it over only when clicked."""
        return self.zip_data


def run_batch_upload(
    engine: Engine,
    inputs: Sequence[batch_lib.BatchInput],
    settings: Any,
    reporter: Any = None,
    cancel: threading.Event | None = None,
) -> BatchOutcome:
    """Every input through ``batch.run_batch`` (remote tiers in parallel up to their limit, the local tier within
    its job gate; one failing image is its result, the others go on), then ``batch.write_zip`` into memory.

    The inputs are written to a private temporary folder, gone when this returns, under names made of their
    index only ("in/0007"), so that no name from outside ever reaches the file system; what comes back names
    each image as it was uploaded, and no message names the folder.
    """
    label = batch_lib.size_label(settings.scale, settings.width, settings.height, settings.longest_side)
    outcome = BatchOutcome(size_label=label)
    with tempfile.TemporaryDirectory(prefix="hdcore-batch-") as work:
        items, names = _stored_items(inputs, Path(work), settings, outcome.problems)
        try:
            results = batch_lib.run_batch(items, engine, settings, reporter, cancel)
        except Cancelled:
            raise
        except Exception as error:  # a mistake shared by every image (unknown tier or model): one message
            outcome.error = _relative(error_message(error, engine.config), work)
            return outcome
        outcome.results = [_as_uploaded(result, names[result.item.index], work, engine.config) for result in results]
        buffer = io.BytesIO()
        batch_lib.write_zip(outcome.results, buffer)
        outcome.zip_data = buffer.getvalue()
    return outcome


def _stored_items(inputs: Sequence[batch_lib.BatchInput], work: Path, settings: Any, problems: list[str]
                  ) -> tuple[list[batch_lib.BatchItem], dict[int, str]]:  # fmt: skip
    """Each input written to ``work``/in/<index>, with its output at ``work``/out/<index><suffix> and its name in
    the zip; an input that cannot be written (a full disk) is a problem, and the others go on."""
    suffix = batch_lib.output_suffix(settings.format)
    label = batch_lib.size_label(settings.scale, settings.width, settings.height, settings.longest_side)
    (work / "in").mkdir()
    (work / "out").mkdir()
    items, names = [], {}
    for index, one in enumerate(inputs):
        folder, _, file = one.name.rpartition("/")
        archive_name = (folder + "/" if folder else "") + batch_lib.output_name(file, label, suffix)
        kind = PurePosixPath(file).suffix.lower()  # kept (a known image suffix only): it says an animation may be in
        kind = kind if kind in batch_lib.IMAGE_SUFFIXES else ""
        item = batch_lib.BatchItem(index, work / "in" / f"{index:04d}{kind}", work / "out" / f"{index:04d}{suffix}",
                                   archive_name)  # fmt: skip
        try:
            item.source.write_bytes(one.data)
        except OSError as error:
            problems.append(f"{one.name}: cannot be stored for the batch ({error.strerror or type(error).__name__})")
            continue
        items.append(item)
        names[index] = one.name
    return items, names


def _relative(text: str, work: str) -> str:
    """``text`` without the temporary folder: "/tmp/hdcore-batch-x/in/0001" -> "0001"."""
    for folder in (str(Path(work, "in")), str(Path(work, "out")), work):
        text = text.replace(folder + "/", "").replace(folder, "")
    return text


def _as_uploaded(result: Any, name: str, work: str, config: Config) -> Any:
    """``result`` naming its image as uploaded: in its item, error, attempts' reasons and record."""
    stored = str(result.item.source)

    def cleaned(text: str) -> str:
        return redact(_relative(one_line(text).replace(stored, name), work), config)

    attempts = [dataclasses.replace(a, reason=cleaned(a.reason)) if a.reason else a for a in result.attempts]
    record = {**result.record, "input": name, "output": result.item.archive_name if result.output else ""}
    if "error" in record:
        record["error"] = cleaned(str(record["error"]))
    item = dataclasses.replace(result.item, source=Path(name))
    return dataclasses.replace(result, item=item, error=cleaned(result.error), attempts=attempts, record=record)


def batch_rows(outcome: BatchOutcome) -> list[dict[str, Any]]:
    """One row per image: its name, status, who produced it, output size, latency, cost, quality, or its error."""
    rows = []
    for result in outcome.results:
        record = result.record
        size = record.get("output_size")
        quality = record.get("quality") or {}
        rows.append(
            {
                "Image": str(result.item.source),
                "Status": result.status,
                "Produced by": short_label(record["provider"]) if record.get("provider") else "",
                "Model": record.get("model") or "",
                "Output": f"{size[0]} × {size[1]}" if size else "",
                "Latency (s)": round(sum(a.latency_s for a in result.attempts), 3) if result.attempts else None,
                "Cost (USD)": round(record.get("cost_usd", 0.0), 6) if result.status == "ok" else None,
                "LR-PSNR (dB)": finite(quality.get("lr_psnr"), 2),
                "Sharpness": finite(quality.get("sharpness"), 1),
                "Error": result.error,
            }
        )
    return rows


def batch_summary(outcome: BatchOutcome) -> list[Headline]:
    cost = sum(a.cost_usd for r in outcome.results for a in r.attempts)
    return [
        Headline("Images", str(len(outcome.results))),
        Headline("Enhanced", str(len(outcome.ok))),
        Headline("Failed", str(len(outcome.failed))),
        Headline("Cost", usd(cost), "every tier tried, every image"),
    ]


def too_many_files(count: int, limit: int = batch_lib.BatchLimits().max_images) -> str:
    """The one line the page shows when an upload holds more files than a batch takes, or ""."""
    if count <= limit:
        return ""
    return f"{count} files uploaded: a batch takes at most {limit}; remove {count - limit} to go on"


def batch_failure_lines(outcome: BatchOutcome) -> list[str]:
    """ "broken.png: cannot identify image file" for each image that failed."""
    return [f"{result.item.source}: {result.error or 'failed'}" for result in outcome.failed]
