"""rollscore's figures in Prometheus: a collector registered with ``prometheus_client``'s default
registry in the scheduler's process, which Dask's ``/metrics`` endpoint serves whole.

Every series has a ``run`` label, the name of the run or training session (runs of the same
name add up). Counters: ``rollscore_rows_total`` (``data_source``, ``outcome``: correct,
incorrect, error), ``rollscore_errors_total`` (``data_source``, ``kind``),
``rollscore_timeouts_total`` (``data_source``), ``rollscore_math_verify_memo_hits_total``,
``rollscore_scoring_seconds_total`` (``activity``), ``rollscore_partitions_total``.
Histograms: ``rollscore_reward`` (``data_source``; buckets only: a reward may be negative, and
Prometheus then leaves out a histogram's sum) and ``rollscore_math_verify_seconds``. Gauge:
``rollscore_summed_reward`` (``data_source``), the sum of the rows' rewards.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator

import prometheus_client
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from rollscore.pipeline.metrics import ERROR_KINDS
from rollscore.pipeline.monitor.runs import RunFigureBook
from rollscore.pipeline.monitor.tally import (
    MATH_VERIFY_BOUNDS,
    OUTCOMES,
    REWARD_BOUNDS,
    Tally,
)
from rollscore.rewards.batch import ACTIVITIES
from rollscore.rewards.result import ErrorKind

PREFIX = "rollscore"


def _histogram_buckets(counts: list[int], bounds: Iterable[float]) -> list[tuple[str, int]]:
    """Prometheus's cumulative ``le`` buckets of per-bucket counts."""
    cumulative, total = [], 0
    for bound, count in zip([*bounds, float("inf")], counts):
        total += count
        cumulative.append(("+Inf" if bound == float("inf") else repr(bound), total))
    return cumulative


def tallies_by_name(books: Iterable[RunFigureBook]) -> dict[str, Tally]:
    """Each run name's tally, the runs of that name added up."""
    merged: dict[str, Tally] = {}
    for book in books:
        for run in book.runs.values():
            merged.setdefault(run.name, Tally()).add(run.tally)
    return merged


def metric_families(tallies: dict[str, Tally]) -> Iterator[Metric]:
    """The Prometheus metrics of each run's tally, by run name."""
    rows = CounterMetricFamily(
        f"{PREFIX}_rows", "Rows scored, by outcome", labels=["run", "data_source", "outcome"]
    )
    errors = CounterMetricFamily(
        f"{PREFIX}_errors", "Rows in error, by kind", labels=["run", "data_source", "kind"]
    )
    timeouts = CounterMetricFamily(
        f"{PREFIX}_timeouts",
        "Rows whose reward ran past sample_timeout (errors of kind timeout)",
        labels=["run", "data_source"],
    )
    rewards = HistogramMetricFamily(
        f"{PREFIX}_reward", "The combined reward of each row", labels=["run", "data_source"]
    )
    summed = GaugeMetricFamily(
        f"{PREFIX}_summed_reward",
        "The sum of the rows' combined rewards (a gauge: a reward may be negative)",
        labels=["run", "data_source"],
    )
    math_verify = HistogramMetricFamily(
        f"{PREFIX}_math_verify_seconds",
        "Seconds math-verify took on each question it was asked",
        labels=["run"],
    )
    memo_hits = CounterMetricFamily(
        f"{PREFIX}_math_verify_memo_hits",
        "Questions to math-verify answered from its memo",
        labels=["run"],
    )
    seconds = CounterMetricFamily(
        f"{PREFIX}_scoring_seconds",
        "Wall seconds of scoring, by activity",
        labels=["run", "activity"],
    )
    partitions = CounterMetricFamily(f"{PREFIX}_partitions", "Partitions scored", labels=["run"])
    for run, tally in sorted(tallies.items()):
        for label, source in sorted(tally.sources.items()):
            for outcome in OUTCOMES:
                rows.add_metric([run, label, outcome], source.count(outcome))
            for kind in ERROR_KINDS:
                errors.add_metric([run, label, kind], source.errors_of(kind))
            timeouts.add_metric([run, label], source.errors_of(ErrorKind.TIMEOUT.value))
            rewards.add_metric(
                [run, label], _histogram_buckets(source.rewards, REWARD_BOUNDS), None
            )
            summed.add_metric([run, label], source.reward_sum)
        math_verify.add_metric(
            [run], _histogram_buckets(tally.math_verify, MATH_VERIFY_BOUNDS), tally.math_verify_sum
        )
        memo_hits.add_metric([run], tally.memo_hits)
        for activity, value in zip(ACTIVITIES, tally.seconds):
            seconds.add_metric([run, activity], value)
        partitions.add_metric([run], tally.partitions)
    yield from (
        rows,
        errors,
        timeouts,
        rewards,
        summed,
        math_verify,
        memo_hits,
        seconds,
        partitions,
    )


class RollscoreCollector(Collector):
    """The figures of every :class:`RunFigureBook` watched in this process, by run name."""

    def __init__(self, registry: CollectorRegistry = prometheus_client.REGISTRY) -> None:
        self._registry = registry
        self._books: weakref.WeakSet[RunFigureBook] = weakref.WeakSet()
        self._registered = False

    def watch(self, book: RunFigureBook) -> None:
        """Serve ``book``'s figures, registering with the registry on first use."""
        self._books.add(book)
        if not self._registered:
            self._registry.register(self)
            self._registered = True

    def unwatch(self, book: RunFigureBook) -> None:
        self._books.discard(book)

    def collect(self) -> Iterator[Metric]:
        return metric_families(tallies_by_name(list(self._books)))


collector = RollscoreCollector()
"""The process's one collector: the default registry refuses a second one with the same metric
names, and a process may hold more than one scheduler (a test's, an in-process cluster's)."""
