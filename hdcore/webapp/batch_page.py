"""The Batch page's decisions: uploads (images and zips) into a batch, the batch run with a bar per batch and
per image, its rows, summary, failures and the zip to download."""

from __future__ import annotations

import dataclasses
import io
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence


from .. import batch as batch_lib
from ..config import Config
from ..engine import Engine, ProgressEvent
from ..errors import Cancelled
from ..text import one_line
from ..batch.uploads import BATCH_MAX_IMAGES, BatchInput, batch_inputs, is_zip_name, read_zip_images, upload_limit_mb  # noqa: F401
from .common import (
    UPLOAD_TYPES, Headline, error_message,
    finite, redact, scrubbed, short_label,
)
from ..text import usd


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

    The inputs are written to a private temporary folder that is gone when this returns; what comes back names
    each image as it was uploaded.
    """
    label = batch_lib.size_label(settings.scale, settings.width, settings.height, settings.longest_side)
    outcome = BatchOutcome(size_label=label)
    with tempfile.TemporaryDirectory(prefix="hdcore-batch-") as work:
        inbox, outbox = Path(work, "in"), Path(work, "out")
        found = []
        for one in inputs:
            path = inbox / one.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(one.data)
            found.append(batch_lib.FoundInput(path, Path(one.name).parent))
        try:
            items, problems = batch_lib.plan_items(found, label, settings.format, out_dir=outbox)
            outcome.problems += [_relative(p, work) for p in problems]
            results = batch_lib.run_batch(items, engine, settings, reporter, cancel)
        except Cancelled:
            raise
        except Exception as error:  # a mistake shared by every image (unknown tier or model): one message
            outcome.error = error_message(error, engine.config)
            return outcome
        outcome.results = [_as_uploaded(result, inbox, work, engine.config) for result in results]
        buffer = io.BytesIO()
        batch_lib.write_zip(outcome.results, buffer)
        outcome.zip_data = _relabelled_zip(buffer.getvalue(), work)
    return outcome


def _relative(text: str, work: str) -> str:
    """``text`` without the temporary folder: "/tmp/hdcore-batch-x/in/a.png" -> "a.png"."""
    for folder in (str(Path(work, "in")), str(Path(work, "out")), work):
        text = text.replace(folder + "/", "").replace(folder, "")
    return text


def _as_uploaded(result: Any, inbox: Path, work: str, config: Config) -> Any:
    source = result.item.source.relative_to(inbox)
    item = dataclasses.replace(result.item, source=source)
    attempts = scrubbed(result.attempts, config)
    error = redact(_relative(one_line(result.error), work), config)
    return dataclasses.replace(result, item=item, error=error, attempts=attempts)


def _relabelled_zip(data: bytes, work: str) -> bytes:
    """The zip with attempts.csv's output column naming each file as it is in the zip, not where it was written."""
    source, target = io.BytesIO(data), io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            content = original.read(info)
            if info.filename == "attempts.csv":
                content = _relative(content.decode("utf-8"), work).encode("utf-8")
            copy.writestr(info, content, compress_type=info.compress_type)
    return target.getvalue()


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


def too_many_files(count: int, limit: int = BATCH_MAX_IMAGES) -> str:
    """The one line the page shows when an upload holds more files than a batch takes, or ""."""
    if count <= limit:
        return ""
    return f"{count} files uploaded: a batch takes at most {limit}; remove {count - limit} to go on"


def batch_failure_lines(outcome: BatchOutcome) -> list[str]:
    """ "broken.png: cannot identify image file" for each image that failed."""
    return [f"{result.item.source}: {result.error or 'failed'}" for result in outcome.failed]
