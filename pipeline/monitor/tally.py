"""The tally of scored rows: what rollscore reports of a partition to the scheduler, once, small
whatever the partition's size; tallies of disjoint partitions add up (and a partition's earlier
tally can be taken away again when it is scored anew).

Per data source: rows by outcome (correct, incorrect, error), rows in error by kind, a
histogram of the rewards and their sum. For the rows together: a histogram of the seconds
math-verify took on each question it was asked, the questions its memo answered, and the wall
seconds scoring spent by activity (:data:`rollscore.rewards.batch.ACTIVITIES`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rollscore.pipeline.metrics import ERROR_KINDS, NO_SOURCE
from rollscore.rewards.batch import ACTIVITIES, BatchScores

CORRECT, INCORRECT, ERROR = OUTCOMES = ("correct", "incorrect", "error")
"""A row's outcome: correct, incorrect, or in error (whatever its reward)."""
REWARD_BOUNDS = (-1.0, -0.5, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Upper bounds (inclusive) of the reward histogram's buckets, with one more above the last:
the built-in rewards lie in [0, 1], a GIoU in [-1, 1], a user's reward anywhere."""
MATH_VERIFY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (inclusive) of the buckets of math-verify's seconds per question, with one
more above the last."""


def source_label(value: object) -> str:
    """The data source a row is counted under, as in the metrics: its text, else ``(none)``."""
    return value if isinstance(value, str) else NO_SOURCE


def _buckets(values: Sequence[float], bounds: Sequence[float]) -> list[int]:
    """How many values fall in each bucket of ``bounds`` (and above the last)."""
    positions = np.searchsorted(np.asarray(bounds), np.asarray(values, dtype=np.float64))
    return np.bincount(positions, minlength=len(bounds) + 1).tolist()


@dataclass
class SourceTally:
    """The rows of one data source."""

    outcomes: list[int] = field(default_factory=lambda: [0] * len(OUTCOMES))
    """Rows by outcome, in :data:`OUTCOMES` order."""
    errors: list[int] = field(default_factory=lambda: [0] * len(ERROR_KINDS))
    """Rows in error, by kind in ``ERROR_KINDS`` order."""
    rewards: list[int] = field(default_factory=lambda: [0] * (len(REWARD_BOUNDS) + 1))
    """Rows by reward bucket (:data:`REWARD_BOUNDS`)."""
    reward_sum: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.outcomes)

    def count(self, outcome: str) -> int:
        return self.outcomes[OUTCOMES.index(outcome)]

    def errors_of(self, kind: str) -> int:
        return self.errors[ERROR_KINDS.index(kind)]

    def add(self, other: SourceTally, sign: int = 1) -> None:
        """Add ``other``'s rows to these (``sign=-1``: take them away)."""
        _add(self.outcomes, other.outcomes, sign)
        _add(self.errors, other.errors, sign)
        _add(self.rewards, other.rewards, sign)
        self.reward_sum += sign * other.reward_sum


def _add(into: list, values: Sequence, sign: int) -> None:
    for index, value in enumerate(values):
        into[index] += sign * value


@dataclass
class Tally:
    """What some partitions scored and what scoring them cost."""

    sources: dict[str, SourceTally] = field(default_factory=dict)
    math_verify: list[int] = field(default_factory=lambda: [0] * (len(MATH_VERIFY_BOUNDS) + 1))
    """Questions math-verify was asked, by bucket of the seconds it took
    (:data:`MATH_VERIFY_BOUNDS`)."""
    math_verify_sum: float = 0.0
    memo_hits: int = 0
    seconds: list[float] = field(default_factory=lambda: [0.0] * len(ACTIVITIES))
    """Wall seconds of scoring by activity, in ``ACTIVITIES`` order."""
    partitions: int = 0

    @property
    def rows(self) -> int:
        return sum(source.rows for source in self.sources.values())

    def total(self) -> SourceTally:
        """The rows of every data source together."""
        together = SourceTally()
        for source in self.sources.values():
            together.add(source)
        return together

    def add(self, other: Tally, sign: int = 1) -> None:
        """Add ``other`` to this tally (``sign=-1``: take it away again)."""
        for label, source in other.sources.items():
            self.sources.setdefault(label, SourceTally()).add(source, sign)
        _add(self.math_verify, other.math_verify, sign)
        self.math_verify_sum += sign * other.math_verify_sum
        self.memo_hits += sign * other.memo_hits
        _add(self.seconds, other.seconds, sign)
        self.partitions += sign * other.partitions

    def to_message(self) -> dict[str, Any]:
        """The tally as plain numbers, lists and dicts with text keys (what Dask's events
        carry)."""
        return {
            "sources": {
                label: [source.outcomes, source.errors, source.rewards, float(source.reward_sum)]
                for label, source in self.sources.items()
            },
            "math_verify": [self.math_verify, float(self.math_verify_sum)],
            "memo_hits": self.memo_hits,
            "seconds": self.seconds,
            "partitions": self.partitions,
        }

    @staticmethod
    def from_message(message: Mapping[str, Any]) -> Tally:
        """The tally :meth:`to_message` describes (lists may have become tuples on the way);
        raises ``ValueError`` for anything else."""
        try:
            sources = {
                str(label): SourceTally(
                    _numbers(outcomes, len(OUTCOMES), int),
                    _numbers(errors, len(ERROR_KINDS), int),
                    _numbers(rewards, len(REWARD_BOUNDS) + 1, int),
                    float(reward_sum),
                )
                for label, (outcomes, errors, rewards, reward_sum) in message["sources"].items()
            }
            buckets, seconds_sum = message["math_verify"]
            return Tally(
                sources,
                _numbers(buckets, len(MATH_VERIFY_BOUNDS) + 1, int),
                float(seconds_sum),
                int(message["memo_hits"]),
                _numbers(message["seconds"], len(ACTIVITIES), float),
                int(message["partitions"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"not a rollscore tally: {error!r}") from None


def _numbers(values: Sequence, length: int, kind: type) -> list:
    if len(values) != length:
        raise ValueError(f"{len(values)} values where {length} were expected")
    return [kind(value) for value in values]


def partition_tally(data_sources: Sequence[object], scores: BatchScores) -> Tally:
    """The tally of one partition's scores (its rows' data sources beside them)."""
    labels = [source_label(value) for value in data_sources]
    kinds = scores.error_kind
    outcome = [
        2 if kind is not None else 0 if correct else 1
        for kind, correct in zip(kinds, scores.correct)
    ]  # indices into OUTCOMES
    reward_bucket = np.searchsorted(np.asarray(REWARD_BOUNDS), np.asarray(scores.reward, float))
    sources: dict[str, SourceTally] = {}
    for index, label in enumerate(labels):
        source = sources.get(label)
        if source is None:
            source = sources[label] = SourceTally()
        source.outcomes[outcome[index]] += 1
        source.rewards[reward_bucket[index]] += 1
        source.reward_sum += scores.reward[index]
        if kinds[index] is not None:
            source.errors[ERROR_KINDS.index(kinds[index])] += 1
    stats = scores.stats
    return Tally(
        sources,
        _buckets(stats.math_verify_seconds, MATH_VERIFY_BOUNDS),
        float(sum(stats.math_verify_seconds)),
        stats.memo_hits,
        [float(stats.seconds[activity]) for activity in ACTIVITIES],
        partitions=1,
    )
