"""The numbers behind the report of a scored dataset, from Dask reductions.

Two scans of the dataset, each reading only the columns it needs. The first computes the
metrics with :mod:`..metrics`' reductions, each numeric column's range per data source
(to fix histogram bins) and a bounded sample of error and wrong-answer rows; the second counts
values in those fixed bins per partition. Workers send only small tables to the client, so
the report of any number of rows fits in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, get_client
from rollscore.pipeline.kernel import responses_of
from rollscore.pipeline.metrics import (
    METRIC_COLUMNS,
    MetricAccumulator,
    assemble_metrics,
    component_columns,
    ended_flags,
    flag_values,
    metric_partials,
    number_values,
    source_labels,
    text_values,
)
from rollscore.pipeline.output import (
    MANIFEST,
    METRICS,
    SCORED_COLUMNS,
    VERIFIER_STACK,
    OutputDir,
    scored_columns,
)

SAMPLE_COLUMNS = ("id", "ground_truth", "extracted_answer", "response", "message_log")
SAMPLE_LIMITS = {"error": 5, "wrong": 8}
"""Example rows kept per error kind, and wrong answers kept per data source."""
TEXT_LIMIT = 240
"""Characters kept of each text of an example row."""
REWARD_BINS = 20
LARGEST = float(np.finfo(float).max)
LENGTH_BINS = 30
SPLIT_EVERY = 8
"""Partitions' samples merged at once in the sample reduction tree."""
GENERATION_LENGTH = "generation_length"
RESPONSE_CHARS = "response_chars"
LENGTH = "length"

_RANGES_META = pd.DataFrame(
    {
        "source": pd.Series(dtype=object),
        "column": pd.Series(dtype=object),
        "count": pd.Series(dtype="int64"),
        "min": pd.Series(dtype="float64"),
        "max": pd.Series(dtype="float64"),
    }
)
_HISTOGRAM_META = pd.DataFrame(
    {
        "source": pd.Series(dtype=object),
        "column": pd.Series(dtype=object),
        "bin": pd.Series(dtype="int64"),
        "count": pd.Series(dtype="int64"),
    }
)
_SAMPLE_TEXTS = ("id", "ground_truth", "extracted_answer", "response", "error")
_SAMPLE_META = pd.DataFrame(
    {
        "section": pd.Series(dtype=object),
        "group": pd.Series(dtype=object),
        "key": pd.Series(dtype="uint64"),
        "data_source": pd.Series(dtype=object),
        **{name: pd.Series(dtype=object) for name in _SAMPLE_TEXTS},
        "reward": pd.Series(dtype="float64"),
    }
)


@dataclass(frozen=True)
class Histogram:
    """Counts in fixed bins, as ``numpy.histogram`` gives them: ``counts[i]`` values in
    ``[edges[i], edges[i + 1])``, the last bin closed."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        """How many values the histogram counts."""
        return sum(self.counts)


@dataclass(frozen=True)
class ExampleRow:
    """One row shown as an example, each text cut to ``TEXT_LIMIT`` characters."""

    data_source: str
    id: str | None
    ground_truth: str | None
    extracted_answer: str | None
    response: str | None
    reward: float | None
    error: str | None


@dataclass(frozen=True)
class SourceReport:
    """What the report shows of one data source."""

    name: str
    rows: int
    correct: int
    """Rows flagged correct and properly ended, as the metrics count them."""
    metrics: dict[str, Any]
    """This source's entry of the metrics' ``by_data_source``."""
    rewards: dict[str, Histogram]
    """``reward`` and each ``reward_<name>`` column that has values in this source."""
    length_correct: Histogram | None
    length_incorrect: Histogram | None
    wrong_answers: tuple[ExampleRow, ...]
    """A hashed sample of the rows flagged incorrect, without an error."""


@dataclass(frozen=True)
class ReportData:
    """Everything the report of a scored dataset shows; small whatever the dataset's size."""

    outdir: str
    metrics: dict[str, Any]
    """As :func:`rollscore.pipeline.metrics.dataset_metrics` computes them from the scored rows."""
    seconds: float | None
    """The run's time, from ``metrics.json`` or ``run.json``; None when neither says."""
    verifier_stack: dict[str, Any] | None
    """The versions and accelerations its verdicts came from (``run.json``)."""
    length_label: str
    """What the length histograms count: generation length, else response characters."""
    sources: tuple[SourceReport, ...]
    error_counts: dict[str, int]
    """Errors per kind (the ``error_kind`` column), every kind listed."""
    error_examples: dict[str, tuple[ExampleRow, ...]]


def _cut(value: object) -> str | None:
    """A value's text cut to ``TEXT_LIMIT`` characters; None when missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def response_texts(frame: pd.DataFrame) -> pd.Series:
    """Each row's response as the scorer saw it (``response``, else the message log's
    assistant content), None where there was none."""
    responses, _ = responses_of(frame)
    return text_values(pd.Series(responses, index=frame.index, dtype=object))


def _lengths(frame: pd.DataFrame, length_column: str) -> pd.Series:
    """Each row's length: its generation length, or its response's characters."""
    if length_column == GENERATION_LENGTH:
        return number_values(frame, GENERATION_LENGTH)
    return response_texts(frame).str.len().astype(float)


def _value_columns(frame: pd.DataFrame) -> list[str]:
    return ["reward", *component_columns(frame.columns)]


def partition_ranges(frame: pd.DataFrame) -> pd.DataFrame:
    """Per data source and numeric column of one partition: the count, min and max of its
    finite values, from which the histograms' bins are fixed."""
    columns = {name: number_values(frame, name) for name in _value_columns(frame)}
    columns[GENERATION_LENGTH] = number_values(frame, GENERATION_LENGTH)
    columns[RESPONSE_CHARS] = _lengths(frame, RESPONSE_CHARS)
    table = pd.DataFrame(columns).assign(source=source_labels(frame))
    values = table.melt(id_vars="source", var_name="column")
    values = values[np.isfinite(values["value"].astype(float))]
    ranges = values.groupby(["source", "column"], as_index=False)["value"].agg(
        count="count", min="min", max="max"
    )
    return ranges.astype(_RANGES_META.dtypes.to_dict())


def keep_samples(candidates: pd.DataFrame) -> pd.DataFrame:
    """Per section (``error`` or ``wrong``) and group (error kind or data source), the rows of
    smallest key, as many as the section's limit."""
    ordered = candidates.sort_values(["section", "group", "key"], kind="stable")
    rank = ordered.groupby(["section", "group"]).cumcount()
    limit = ordered["section"].map(SAMPLE_LIMITS)
    return ordered[rank < limit].reset_index(drop=True)


def partition_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """The example candidates of one partition: rows with an error, grouped by kind, and
    incorrect rows without one, grouped by data source; keyed by a hash of their texts so the
    rows kept over all partitions are a sample spread over the dataset."""
    error = text_values(frame["error"])
    wrong = ~flag_values(frame["correct"], missing=False) & error.isna()
    chosen = error.notna() | wrong
    source = source_labels(frame)[chosen]
    texts = {
        name: frame[name][chosen] if name in frame.columns else None
        for name in ("id", "ground_truth", "extracted_answer")
    }
    texts["response"] = response_texts(frame[chosen])
    texts["error"] = error[chosen]
    candidates = pd.DataFrame(
        {
            "section": np.where(error[chosen].notna(), "error", "wrong"),
            "group": text_values(frame["error_kind"])[chosen].fillna(source),
            "key": np.zeros(int(chosen.sum()), dtype="uint64"),
            "data_source": source,
            **{
                name: (None if values is None else [_cut(value) for value in values.tolist()])
                for name, values in texts.items()
            },
            "reward": number_values(frame, "reward")[chosen],
        },
        index=source.index,
    ).astype(_SAMPLE_META.dtypes.to_dict())
    if len(candidates):
        hashed = candidates[["data_source", *_SAMPLE_TEXTS]].astype(str)
        candidates["key"] = pd.util.hash_pandas_object(hashed, index=False).to_numpy()
    return keep_samples(candidates)


def partition_histograms(
    frame: pd.DataFrame, bins: dict[tuple[str, str], np.ndarray], length_column: str
) -> pd.DataFrame:
    """Per data source of one partition: ``numpy.histogram`` counts of each column in its
    fixed bins (``bins`` by source and column), the length split into ``length:correct`` and
    ``length:incorrect`` (correct as the metrics count it: flagged correct and properly
    ended). Summed over partitions, these are the dataset's histograms."""
    source = source_labels(frame)
    correct = flag_values(frame["correct"], missing=False) & ended_flags(frame)
    values = {name: number_values(frame, name) for name in _value_columns(frame)}
    if any(column == LENGTH for _, column in bins):
        values[LENGTH] = _lengths(frame, length_column)
    tables = []
    for (name, column), edges in bins.items():
        if column not in values:
            continue
        in_source = source == name
        if column == LENGTH:
            split = {
                "length:correct": in_source & correct,
                "length:incorrect": in_source & ~correct,
            }
        else:
            split = {column: in_source}
        for label, mask in split.items():
            chosen = values[column][mask].dropna()
            counts, _ = np.histogram(chosen.to_numpy(dtype=float), bins=edges)
            positions = np.arange(len(counts))
            tables.append(
                pd.DataFrame({"source": name, "column": label, "bin": positions, "count": counts})
            )
    if not tables:
        return _HISTOGRAM_META.copy()
    return pd.concat(tables, ignore_index=True).astype(_HISTOGRAM_META.dtypes.to_dict())


def reward_edges(low: float, high: float) -> np.ndarray:
    """Bins for reward values in ``[low, high]``: 0 to 1, or -1 to 1, when they fit; else
    even bins over the range, increasing and finite even at the ends of the float range."""
    if low >= 0 and high <= 1:
        return np.linspace(0.0, 1.0, REWARD_BINS + 1)
    if low >= -1 and high <= 1:
        return np.linspace(-1.0, 1.0, 2 * REWARD_BINS + 1)
    if low == high:
        pad = max(0.5, abs(low) * 1e-6)
        low, high = max(low - pad, -LARGEST), min(high + pad, LARGEST)
    return np.linspace(low / 2, high / 2, REWARD_BINS + 1) * 2  # halves: the span never overflows


def length_edges(low: float, high: float) -> np.ndarray:
    """At most ``LENGTH_BINS`` bins of whole-number width covering lengths in ``[low, high]``."""
    start = math.floor(low)
    span = math.floor(high) - start + 1
    width = max(1, math.ceil(span / LENGTH_BINS))
    return start + width * np.arange(math.ceil(span / width) + 1, dtype=float)


def _read(output: OutputDir, available: list[str], wanted: list[str]) -> dd.DataFrame:
    """The scored dataset's parts (as the metrics read them: no other file in scores/), lazily,
    with only the wanted columns it has."""
    columns = [name for name in available if name in wanted]
    return dd.read_parquet(output.part_urls(), columns=columns, dtype_backend="pyarrow")


def _run_seconds(output: OutputDir) -> float | None:
    """The run's time: ``metrics.json``'s ``run.seconds``, else ``run.json``'s ``seconds``."""
    metrics = output.read_json(METRICS) or {}
    seconds = (metrics.get("run") or {}).get("seconds")
    if seconds is None:
        seconds = (output.read_json(MANIFEST) or {}).get("seconds")
    return None if seconds is None else float(seconds)


def _bins(ranges: pd.DataFrame, length_column: str) -> dict[tuple[str, str], np.ndarray]:
    """Histogram edges by data source and column, from the columns' ranges."""
    bins = {}
    for (source, column), row in ranges.iterrows():
        if row["count"] == 0:
            continue
        if column == length_column:
            bins[(source, LENGTH)] = length_edges(row["min"], row["max"])
        elif column not in (GENERATION_LENGTH, RESPONSE_CHARS):
            bins[(source, column)] = reward_edges(row["min"], row["max"])
    return bins


def _histogram(counts: dict[int, int], edges: np.ndarray) -> Histogram:
    return Histogram(
        tuple(float(edge) for edge in edges),
        tuple(counts.get(index, 0) for index in range(len(edges) - 1)),
    )


def _examples(samples: pd.DataFrame, section: str, group: str) -> tuple[ExampleRow, ...]:
    """The sampled rows of one section's group, as example rows."""
    chosen = samples[(samples["section"] == section) & (samples["group"] == group)]
    return tuple(
        ExampleRow(
            data_source=row["data_source"],
            id=_cut(row["id"]),
            ground_truth=_cut(row["ground_truth"]),
            extracted_answer=_cut(row["extracted_answer"]),
            response=_cut(row["response"]),
            reward=None if pd.isna(row["reward"]) else float(row["reward"]),
            error=_cut(row["error"]),
        )
        for row in chosen.to_dict("records")
    )


def _partials_of(partition: pd.DataFrame) -> pd.Series:
    """A partition's metric partials, as a one-item Series (a Dask collection's partition)."""
    return pd.Series([metric_partials(partition)], dtype=object)


def report_data(outdir: str, client: Client | None = None) -> ReportData:
    """What the report of the scored dataset in ``outdir`` shows, computed on ``client``
    (default: the current client) in two scans. Raises :class:`InputError` when ``outdir``
    is not a scored dataset."""
    client = client or get_client()
    available = scored_columns(outdir)
    output = OutputDir(outdir)
    rewards = [name for name in available if name.startswith("reward_")]
    frame = _read(output, available, [*METRIC_COLUMNS, *SCORED_COLUMNS, *SAMPLE_COLUMNS, *rewards])
    partials = frame.map_partitions(
        _partials_of, meta=pd.Series(dtype=object), token="report-metric-partials"
    )
    ranges = frame.map_partitions(partition_ranges, meta=_RANGES_META, token="report-ranges")
    ranges = ranges.groupby(["source", "column"]).agg({"count": "sum", "min": "min", "max": "max"})
    samples = frame.reduction(
        chunk=partition_samples,
        combine=keep_samples,
        aggregate=keep_samples,
        meta=_SAMPLE_META,
        token="report-samples",
        split_every=SPLIT_EVERY,
    )
    partials, ranges, samples = client.compute([partials, ranges, samples], sync=True)
    accumulator = MetricAccumulator()
    for part in partials:
        accumulator.add(part)
    merged = accumulator.partials()

    generation = ranges["count"][ranges.index.get_level_values("column") == GENERATION_LENGTH]
    length_column = GENERATION_LENGTH if generation.sum() > 0 else RESPONSE_CHARS
    bins = _bins(ranges, length_column)
    length_inputs = [GENERATION_LENGTH] if length_column == GENERATION_LENGTH else SAMPLE_COLUMNS
    values = _read(
        output, available, ["data_source", "is_end", *SCORED_COLUMNS, *rewards, *length_inputs]
    )
    histograms = values.map_partitions(
        partition_histograms, bins, length_column, meta=_HISTOGRAM_META, token="report-histograms"
    )
    counts: dict[tuple[str, str], dict[int, int]] = {}
    summed = histograms.groupby(["source", "column", "bin"])["count"].sum()
    for (source, column, index), count in client.compute(summed, sync=True).items():
        counts.setdefault((source, column), {})[int(index)] = int(count)

    metrics = assemble_metrics(merged)
    sources = []
    for name, source_metrics in metrics["by_data_source"].items():
        length = bins.get((name, LENGTH))
        sources.append(
            SourceReport(
                name=name,
                rows=source_metrics["rows"],
                correct=int(merged.sums.loc[name, "correct"]),
                metrics=source_metrics,
                rewards={
                    column: _histogram(counts.get((name, column), {}), bins[(name, column)])
                    for column in ["reward", *rewards]
                    if (name, column) in bins
                },
                length_correct=None
                if length is None
                else _histogram(counts.get((name, "length:correct"), {}), length),
                length_incorrect=None
                if length is None
                else _histogram(counts.get((name, "length:incorrect"), {}), length),
                wrong_answers=_examples(samples, "wrong", name),
            )
        )
    error_counts = dict(metrics["errors_by_kind"])
    return ReportData(
        outdir=outdir,
        metrics=metrics,
        seconds=_run_seconds(output),
        verifier_stack=(output.read_json(MANIFEST) or {}).get(VERIFIER_STACK),
        length_label=(
            "generation length" if length_column == GENERATION_LENGTH else "response characters"
        ),
        sources=tuple(sources),
        error_counts=error_counts,
        error_examples={
            kind: _examples(samples, "error", kind) for kind, count in error_counts.items() if count
        },
    )
