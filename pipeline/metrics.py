"""Metrics of a scored dataset, overall and per ``data_source``, computed with Dask
reductions: workers reduce their partitions to per-source sums and per-prompt counts, and
only those small tables reach the client.

The seed's set (``accuracy`` as the mean of ``reward * is_end``, ``pass@samples_per_prompt``,
``fraction_of_samples_properly_ended``, ``num_problems_in_batch``, mean ``generation_lengths``
and ``prompt_lengths``, ``correct_solution_generation_lengths``) plus the fraction correct
(correct and properly ended), each component's mean, error and timeout counts, and the
unbiased pass@k. A missing ``is_end`` counts as ended. Prompts are told apart by the
``prompt`` column; without one each row is its own prompt.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import dask
import dask.dataframe as dd
import pandas as pd

from pipeline.pass_at_k import pass_at_k_sums
from rewards.result import ErrorKind

ERROR_KINDS = tuple(kind.value for kind in ErrorKind)
NO_SOURCE = "(none)"
METRIC_COLUMNS = (
    "reward", "correct", "error", "error_kind", "data_source", "prompt", "is_end",
    "generation_length", "prompt_length",
)  # fmt: skip
"""The columns the metrics read (plus every ``reward_<name>``): never the long texts."""


def text_values(values: pd.Series) -> pd.Series:
    """Strings stay, anything missing becomes None."""
    return pd.Series(
        [v if isinstance(v, str) else None for v in values.tolist()],
        index=values.index,
        dtype=object,
    )


def flag_values(values: pd.Series, missing: bool) -> pd.Series:
    """Booleans, with ``missing`` for null entries."""
    return pd.Series(
        [missing if v is None or v is pd.NA or v != v else bool(v) for v in values.tolist()],
        index=values.index,
        dtype=bool,
    )


def source_labels(frame: pd.DataFrame) -> pd.Series:
    if "data_source" not in frame.columns:
        return pd.Series(NO_SOURCE, index=frame.index, dtype=object)
    return text_values(frame["data_source"]).fillna(NO_SOURCE)


def ended_flags(frame: pd.DataFrame) -> pd.Series:
    if "is_end" not in frame.columns:
        return pd.Series(True, index=frame.index)
    return flag_values(frame["is_end"], missing=True)


def masked_rewards(frame: pd.DataFrame, ended: pd.Series) -> pd.Series:
    """``reward * is_end``, the seed's reward of a sample that may not have ended."""
    return frame["reward"].astype(float).fillna(0.0) * ended


def number_values(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(math.nan, index=frame.index)
    return pd.to_numeric(frame[name], errors="coerce").astype(float)


def partition_sums(frame: pd.DataFrame) -> pd.DataFrame:
    """Per data source of one partition: the sums every row-level metric is made from."""
    ended = ended_flags(frame)
    reward = masked_rewards(frame, ended)
    correct = flag_values(frame["correct"], missing=False)
    generation, prompt = (
        number_values(frame, "generation_length"),
        number_values(frame, "prompt_length"),
    )
    solved_length = (generation - prompt).where(reward == 1)
    error = text_values(frame["error"])
    kind = text_values(frame["error_kind"])
    columns: dict[str, pd.Series] = {
        "source": source_labels(frame),
        "rows": pd.Series(1, index=frame.index),
        "reward": reward,
        "correct": (correct & ended).astype(int),
        "ended": ended.astype(int),
        "generation_length": generation.fillna(0.0),
        "generation_length_count": generation.notna().astype(int),
        "prompt_length": prompt.fillna(0.0),
        "prompt_length_count": prompt.notna().astype(int),
        "solved_length": solved_length.fillna(0.0),
        "solved_length_count": solved_length.notna().astype(int),
        "errors": error.notna().astype(int),
    }
    for name in ERROR_KINDS:
        columns[f"errors:{name}"] = (kind == name).astype(int)
    for name in component_columns(frame.columns):
        values = number_values(frame, name)
        columns[f"{name}:sum"] = values.fillna(0.0)
        columns[f"{name}:count"] = values.notna().astype(int)
    return pd.DataFrame(columns).groupby("source", as_index=False).sum()


def component_columns(columns: pd.Index) -> list[str]:
    return [name for name in columns if str(name).startswith("reward_")]


def prompt_outcomes(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row: its data source, prompt, and whether it counts as solved (correct and ended)
    and as rewarded (masked reward > 0)."""
    ended = ended_flags(frame)
    correct = flag_values(frame["correct"], missing=False)
    return pd.DataFrame(
        {
            "source": source_labels(frame),
            "prompt": text_values(frame["prompt"]).fillna("") if "prompt" in frame.columns else "",
            "n": 1,
            "c": (correct & ended).astype(int),
            "positive": (masked_rewards(frame, ended) > 0).astype(int),
        }
    )


def prompt_partials(per_prompt: pd.DataFrame) -> pd.DataFrame:
    """Per data source: prompts, prompts with a rewarded sample, most samples on one prompt."""
    grouped = per_prompt.groupby("source")
    partials = pd.DataFrame(
        {
            "prompts": grouped.size(),
            "positive_prompts": grouped["positive"].agg(lambda flags: int((flags > 0).sum())),
            "max_samples": grouped["n"].max(),
        }
    )
    return partials.reset_index().astype(_PROMPT_PARTIALS.dtypes.to_dict())


def pass_partials(per_prompt: pd.DataFrame) -> pd.DataFrame:
    """Per data source and k: the sum of pass@k over the prompts with at least k samples, and
    their count (:func:`pipeline.pass_at_k.pass_at_k_sums`); sums over partitions add up."""
    rows = [
        {"source": source, "k": k, "sum": total, "prompts": prompts}
        for source, group in per_prompt.groupby("source")
        for k, (total, prompts) in pass_at_k_sums(zip(group["n"], group["c"])).items()
    ]
    return pd.DataFrame(rows, columns=list(_PASS_PARTIALS.columns)).astype(
        _PASS_PARTIALS.dtypes.to_dict()
    )


_PROMPT_PARTIALS = pd.DataFrame(
    {
        "source": pd.Series(dtype=object),
        "prompts": pd.Series(dtype="int64"),
        "positive_prompts": pd.Series(dtype="int64"),
        "max_samples": pd.Series(dtype="int64"),
    }
)
_PASS_PARTIALS = pd.DataFrame(
    {
        "source": pd.Series(dtype=object),
        "k": pd.Series(dtype="int64"),
        "sum": pd.Series(dtype="float64"),
        "prompts": pd.Series(dtype="int64"),
    }
)


class MetricTables(NamedTuple):
    """The small per-source tables the metrics are assembled from (lazy, or computed)."""

    sums: Any
    """Per source: the row-level sums of :func:`partition_sums`."""
    prompts: Any
    """Per source: prompts, prompts with a rewarded sample, most samples of one prompt."""
    pass_at_k: Any
    """Per source and k: pass@k sums and prompt counts."""


def metric_tables(frame: dd.DataFrame) -> MetricTables:
    """The lazy tables that :func:`assemble_metrics` takes, once computed."""
    sums = frame.map_partitions(partition_sums, meta=partition_sums(frame._meta))
    per_prompt = frame.map_partitions(prompt_outcomes, meta=prompt_outcomes(frame._meta))
    if "prompt" in frame.columns:
        per_prompt = per_prompt.groupby(["source", "prompt"]).agg(
            {"n": "sum", "c": "sum", "positive": "max"}, split_out=1
        )
        per_prompt = per_prompt.reset_index()
    prompts = per_prompt.map_partitions(prompt_partials, meta=_PROMPT_PARTIALS)
    passes = per_prompt.map_partitions(pass_partials, meta=_PASS_PARTIALS)
    return MetricTables(
        sums.groupby("source").sum(),
        prompts.groupby("source").agg(
            {"prompts": "sum", "positive_prompts": "sum", "max_samples": "max"}
        ),
        passes.groupby(["source", "k"]).sum(),
    )


def dataset_metrics(scores_url: str) -> dict[str, Any]:
    """Metrics of the scored Parquet dataset at ``scores_url`` (runs on the current client)."""
    frame = dd.read_parquet(scores_url, dtype_backend="pyarrow")
    frame = frame[
        [name for name in frame.columns if name in METRIC_COLUMNS or name.startswith("reward_")]
    ]
    return assemble_metrics(MetricTables(*dask.compute(*metric_tables(frame))))


def _metrics_of(sums: pd.Series, prompts: pd.Series, passes: pd.DataFrame) -> dict[str, Any]:
    """The metrics of one source (or of all): ``passes`` is indexed by k."""
    rows = int(sums["rows"])

    def mean(total: str, count: float) -> float | None:
        return float(sums[total]) / count if count else None

    metrics: dict[str, Any] = {
        "rows": rows,
        "num_problems_in_batch": rows,
        "accuracy": mean("reward", rows),
        "fraction_correct": mean("correct", rows),
        "pass@samples_per_prompt": (
            float(prompts["positive_prompts"]) / prompts["prompts"] if prompts["prompts"] else None
        ),
        "samples_per_prompt": int(prompts["max_samples"]),
        "num_prompts": int(prompts["prompts"]),
        "pass@k": {
            str(k): float(row["sum"]) / row["prompts"]
            for k, row in passes.sort_index().iterrows()
            if row["prompts"] > 0
        },
        "fraction_of_samples_properly_ended": mean("ended", rows),
        "generation_lengths": mean("generation_length", sums["generation_length_count"]),
        "prompt_lengths": mean("prompt_length", sums["prompt_length_count"]),
        "correct_solution_generation_lengths": mean("solved_length", sums["solved_length_count"])
        or 0,
        "errors": int(sums["errors"]),
        "timeouts": int(sums[f"errors:{ErrorKind.TIMEOUT.value}"]),
        "errors_by_kind": {name: int(sums[f"errors:{name}"]) for name in ERROR_KINDS},
    }
    for name in [column[: -len(":sum")] for column in sums.index if column.endswith(":sum")]:
        if name.startswith("reward_"):
            metrics[f"mean_{name}"] = mean(f"{name}:sum", sums[f"{name}:count"])
    return metrics


def assemble_metrics(tables: MetricTables) -> dict[str, Any]:
    """The metrics document from the computed per-source tables: overall, then each source."""
    sums, prompts, passes = tables
    overall_prompts = prompts.sum()
    overall_prompts["max_samples"] = prompts["max_samples"].max() if len(prompts) else 0
    metrics = _metrics_of(sums.sum(), overall_prompts, passes.groupby(level="k").sum())
    metrics["by_data_source"] = {
        str(source): _metrics_of(
            sums.loc[source], prompts.loc[source], passes.xs(source, level="source")
        )
        for source in sums.index
    }
    return metrics
