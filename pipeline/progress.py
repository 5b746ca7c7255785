"""Progress of a run on stderr: a self-updating line on a terminal, a line per tenth otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """Reports partitions and rows scored, the rate, and the errors so far."""

    def __init__(self, partitions: int, rows: int, stream: TextIO | None = None) -> None:
        self.partitions, self.rows = partitions, rows
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.perf_counter()
        self.done_partitions = self.done_rows = self.errors = self.timeouts = 0
        self._last_tenth = -1

    def update(self, rows: int, errors: int, timeouts: int) -> None:
        """Count one more finished partition."""
        self.done_partitions += 1
        self.done_rows += rows
        self.errors += errors
        self.timeouts += timeouts
        tenth = 10 * self.done_partitions // max(1, self.partitions)
        if self.interactive:
            self.stream.write("\r" + self._text())
        elif tenth != self._last_tenth:
            self.stream.write(self._text() + "\n")
        self._last_tenth = tenth
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()

    def _text(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        filled = 30 * self.done_partitions // max(1, self.partitions)
        return (
            f"[{'#' * filled}{'.' * (30 - filled)}] {self.done_partitions}/{self.partitions} "
            f"partitions, {self.done_rows:,}/~{self.rows:,} rows, {self.done_rows / elapsed:,.0f} "
            f"rows/s, {self.errors:,} errors ({self.timeouts:,} timeouts)"
        )
