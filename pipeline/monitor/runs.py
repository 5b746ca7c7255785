"""The figures the scheduler keeps of each run and training session: the tallies of their
partitions, each counted once.

A partition is known by its task's key while the scheduler knows the task. Its tally counts
once the task's result is in memory; a tally reported again for that key (the partition scored
anew, after the worker holding it died) replaces the one counted, so a run's figures are those
of its rows, whatever worker died. A tally whose task never reached memory (cancelled) never
counts. Once the scheduler forgets the key, its tally stays in the run's figures for good.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

from rollscore.pipeline.monitor.tally import Tally

MAX_RUNS = 100
"""Runs and sessions whose figures are kept, the most recently started ones."""
TIMELINE_POINTS = 10_000
"""Points of a run's rows-over-time line kept, the most recent ones."""
RECENT_SECONDS = 30.0
"""The window of a run's recent rows per second."""


@dataclass
class RunFigures:
    """One run's or training session's figures: what its partitions scored, counted once."""

    id: str
    """Its Dask span's id."""
    name: str
    """Its readable name: its span's last tag."""
    tally: Tally = field(default_factory=Tally)
    started: float = float("inf")
    """When its first partition started scoring, in seconds since the epoch."""
    updated: float = 0.0
    """When a partition last counted."""
    timeline: deque[tuple[float, int]] = field(
        default_factory=lambda: deque(maxlen=TIMELINE_POINTS)
    )
    """(time, rows counted) after each partition that counted."""

    def count(self, tally: Tally, instead_of: Tally | None, now: float) -> None:
        """Count a partition's ``tally``, instead of the one it counted before, if any."""
        if instead_of is not None:
            self.tally.add(instead_of, -1)
        self.tally.add(tally)
        self.updated = now
        self.timeline.append((now, self.tally.rows))

    def rows_per_second(self) -> float:
        """Rows per second over the whole run: from its start to its last counted partition."""
        elapsed = self.updated - self.started
        return self.tally.rows / elapsed if elapsed > 0 else 0.0

    def recent_rows_per_second(self, now: float) -> float:
        """Rows per second over the last :data:`RECENT_SECONDS` (or since the start)."""
        since = max(now - RECENT_SECONDS, self.started)
        if not self.timeline or now <= since:
            return 0.0
        times = [point[0] for point in self.timeline]
        before = bisect.bisect_right(times, since) - 1
        rows_then = self.timeline[before][1] if before >= 0 else 0
        return (self.tally.rows - rows_then) / (now - since)


@dataclass
class _Partition:
    run: RunFigures
    counted: Tally | None = None
    """The tally counted in the run's figures."""
    reported: Tally | None = None
    """A tally reported and not counted yet: its task's result is not in memory yet."""


class RunFigureBook:
    """Every run's figures, from the tallies reported and the tasks' transitions."""

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        self.max_runs = max_runs
        self.runs: dict[str, RunFigures] = {}
        """By span id, in the order they were first reported."""
        self.partitions: dict[Hashable, _Partition] = {}
        """By task key, while the scheduler knows the task."""

    def reported(
        self,
        key: Hashable,
        span: str,
        name: str,
        started: float,
        tally: Tally,
        in_memory: bool,
        now: float,
    ) -> None:
        """A partition's tally, reported by the task ``key`` of ``span``; ``in_memory``: its
        result is in memory already."""
        run = self.runs.get(span)
        if run is None:
            run = self.runs[span] = RunFigures(span, name)
            while len(self.runs) > self.max_runs:
                del self.runs[next(iter(self.runs))]
        run.started = min(run.started, started)
        partition = self.partitions.get(key)
        if partition is None or partition.run is not run:
            partition = self.partitions[key] = _Partition(run)
        partition.reported = tally
        if in_memory:
            self.in_memory(key, now)

    def in_memory(self, key: Hashable, now: float) -> None:
        """The task ``key``'s result is in memory: its reported tally counts, instead of the
        one counted before (if the partition was scored before)."""
        partition = self.partitions.get(key)
        if partition is None or partition.reported is None:
            return
        partition.run.count(partition.reported, partition.counted, now)
        partition.counted, partition.reported = partition.reported, None

    def forgotten(self, key: Hashable) -> None:
        """The scheduler forgot the task ``key``: what it counted stays counted."""
        self.partitions.pop(key, None)

    def latest(self) -> RunFigures | None:
        """The run that counted a partition last."""
        return max(self.runs.values(), key=lambda run: run.updated, default=None)
