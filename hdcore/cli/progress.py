"""Progress bars on the terminal (tqdm, on stderr): one for the batch, one per running image's tiles."""

from __future__ import annotations

import sys
from typing import IO, Any

from ..batch import BatchItem, ItemResult
from ..engine import ProgressEvent
from ..text import terminal_safe


class TqdmReporter:
    """A bar for the whole batch (when it has several images) and one per running image's tiles, on stderr."""

    def __init__(self, total: int, file: IO[str] | None = None, enabled: bool = True):
        self.total = total
        self.file = file or sys.stderr
        self.enabled = enabled
        self._batch: Any = None
        self._bars: dict[int, Any] = {}  # item index -> its tile bar
        self._rows: dict[int, int] = {}  # item index -> the screen row its bars use
        self._first_row = 1 if total > 1 else 0  # row 0 is the batch bar's

    def started(self, item: BatchItem) -> None:
        if self.enabled and self.total > 1 and self._batch is None:
            from tqdm import tqdm

            self._batch = tqdm(total=self.total, desc="batch", unit="image", file=self.file, position=0)

    def progress(self, item: BatchItem, event: ProgressEvent) -> None:
        if not self.enabled or event.stage != "progress" or event.total <= 1:
            return
        label = terminal_safe(f"{item.source.name} [{event.provider}]")
        bar = self._bars.get(item.index)
        if bar is None or bar.desc != label:  # a new image, or the next tier of the same one
            self._close_bar(item.index)
            bar = self._new_bar(item.index, label, event.total, event.message or "tile")  # an animation: "frame"
        bar.total, bar.n = event.total, event.done
        bar.refresh()

    def finished(self, result: ItemResult) -> None:
        self._close_bar(result.item.index)
        self._rows.pop(result.item.index, None)
        if self._batch is not None:
            self._batch.update(1)

    def write(self, line: str, stream: IO[str]) -> None:
        """Print a line to ``stream`` without breaking the bars (they are cleared, then drawn again below it)."""
        if self._batch is None and not self._bars:
            print(line, file=stream, flush=True)
            return
        from tqdm import tqdm

        tqdm.write(line, file=stream)
        stream.flush()

    def close(self) -> None:
        for index in list(self._bars):
            self._close_bar(index)
        if self._batch is not None:
            self._batch.close()
            self._batch = None

    def _new_bar(self, index: int, label: str, total: int, unit: str) -> Any:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=label, unit=unit, file=self.file, leave=False, position=self._row(index))
        self._bars[index] = bar
        return bar

    def _row(self, index: int) -> int:
        """The lowest screen row no other running image uses."""
        if index not in self._rows:
            used = set(self._rows.values())
            row = self._first_row
            while row in used:
                row += 1
            self._rows[index] = row
        return self._rows[index]

    def _close_bar(self, index: int) -> None:
        bar = self._bars.pop(index, None)
        if bar is not None:
            bar.close()
