"""Metrics of scored rollouts, overall and per ``data_source``, from small partials.

Each partition reduces to :class:`MetricPartials`: per source, the sums every row-level metric
is made from, and the sample counts of each (prompt, answer) that the per-prompt estimators
need (:mod:`.tallies`, :mod:`.estimators`). A run computes them while
it scores each partition, so the metrics need no second pass over the dataset; ``rollscore
metrics`` and a resumed run read the metric columns of written parts instead. Partials merge
by adding up; only they reach the client.

NeMo-RL's set (``accuracy`` as the mean of ``reward * is_end``, ``pass@samples_per_prompt``,
``fraction_of_samples_properly_ended``, ``num_problems_in_batch``, mean ``generation_lengths``
and ``prompt_lengths``, ``correct_solution_generation_lengths``) plus the fraction correct
(correct and properly ended), each component's mean, error counts by kind, the unbiased pass@k
and maj@k. A missing ``is_end`` counts as ended. Prompts are told apart by the ``prompt``
column; a row without one is a prompt of its own. Prompts and answers are compared by 64-bit
hashes of their text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, as_completed, get_client
from rollscore.pipeline.errors import InputError
from rollscore.pipeline.estimators import majority_at_k_sums, pass_at_k_sums, vote_key
from rollscore.pipeline.output import OutputDir, missing_scored_columns
from rollscore.pipeline.tallies import ABSTAINED, AnswerTallies, PromptTallies, prompt_tallies
from rollscore.pipeline.values import python_values
from rollscore.rewards.result import ErrorKind

ERROR_KINDS = tuple(kind.value for kind in ErrorKind)
NO_SOURCE = "(none)"
METRIC_COLUMNS = (
    "reward", "correct", "error", "error_kind", "data_source", "prompt", "extracted_answer",
    "is_end", "generation_length", "prompt_length",
)  # fmt: skip
"""The columns the metrics read (plus every ``reward_<name>``): never the long texts."""
COMPACT_AT = 1_000_000
"""Prompt-answer entries an accumulator holds before it merges them down."""
EXACT_UNIT_BITS = 1127
"""Sums of floats are carried as whole multiples of 2**-1127 (a 53-bit mantissa below the
smallest float), so adding them up is exact in any order and cadence: a resumed run reports
the same figures as an uninterrupted one."""
EXACT_TOTALS = ("reward", "generation_length", "prompt_length", "solved_length")
"""The float sums, with each component's ``<name>:sum``."""


def text_values(values: pd.Series) -> pd.Series:
    """Strings stay, anything missing becomes None."""
    return pd.Series(
        [v if isinstance(v, str) else None for v in python_values(values)],
        index=values.index,
        dtype=object,
    )


def flag_values(values: pd.Series, missing: bool) -> pd.Series:
    """Booleans, with ``missing`` for null entries."""
    return pd.Series(
        [missing if v is None or v is pd.NA or v != v else bool(v) for v in python_values(values)],
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
    """``reward * is_end``, NeMo-RL's reward of a sample that may not have ended."""
    return frame["reward"].astype(float).fillna(0.0) * ended


def number_values(frame: pd.DataFrame, name: str) -> pd.Series:
    """The column as finite floats; anything else (text, infinities) as missing."""
    if name not in frame.columns:
        return pd.Series(math.nan, index=frame.index)
    values = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return values.where(np.isfinite(values))


def component_columns(columns: pd.Index) -> list[str]:
    return [name for name in columns if str(name).startswith("reward_")]


def exact_total(values: np.ndarray) -> int:
    """The exact sum of finite floats in units of 2**-:data:`EXACT_UNIT_BITS`."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("an exact total is of finite values only")
    mantissas, exponents = np.frexp(values)
    integers = (mantissas * 2.0**53).astype(np.int64)  # exact: 53-bit mantissas
    total = 0
    for exponent in np.unique(exponents).tolist():
        chosen = integers[exponents == exponent]
        high, low = chosen >> 26, chosen & ((1 << 26) - 1)  # halves that sum without overflow
        total += ((int(high.sum()) << 26) + int(low.sum())) << (exponent - 53 + EXACT_UNIT_BITS)
    return total


def exact_mean(total: int, count: int) -> float:
    """The mean of values whose exact total (:func:`exact_total`) is ``total``: the float
    nearest to it (Python divides integers correctly rounded), finite as the values were."""
    return int(total) / (int(count) << EXACT_UNIT_BITS)


def _is_exact(name: str) -> bool:
    return name in EXACT_TOTALS or name.endswith(":sum")


def _hashes(values: list[str | None]) -> np.ndarray:
    """64-bit hashes of texts; 0 (:data:`ABSTAINED`) for None."""
    hashed = pd.util.hash_array(np.array([v or "" for v in values], dtype=object))
    hashed[[v is None for v in values]] = ABSTAINED
    return hashed


@dataclass
class MetricPartials:
    """What the metrics of some rows are made from; partials of disjoint rows add up."""

    sums: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per source (the index): row-level sums, and those of rows without a prompt."""
    answers: dict[str, AnswerTallies] = field(default_factory=dict)
    """Per source: the sample counts of each (prompt, answer) of rows with a prompt."""

    def entries(self) -> int:
        """The (prompt, answer) entries held, over every source."""
        return sum(len(tallies) for tallies in self.answers.values())

    def merged(self) -> MetricPartials:
        """The same partials with each source and each prompt's answer in one entry."""
        sums = _exact_sums(self.sums) if len(self.sums) else self.sums
        return MetricPartials(sums, {s: t.merged() for s, t in sorted(self.answers.items())})

    @staticmethod
    def joined(parts: list[MetricPartials]) -> MetricPartials:
        """The partials of the rows of all ``parts``, merged."""
        # of parts without a row, the first's sums: their columns give zeros
        sums = [part.sums for part in parts if len(part.sums)] or [part.sums for part in parts[:1]]
        sources = sorted({source for part in parts for source in part.answers})
        answers = {
            source: AnswerTallies.joined(
                part.answers.get(source, AnswerTallies()) for part in parts
            )
            for source in sources
        }
        return MetricPartials(pd.concat(sums) if sums else pd.DataFrame(), answers).merged()


def _python_sum(values: pd.Series | np.ndarray) -> int | float:
    return sum(values.tolist())


def _exact_sums(sums: pd.DataFrame) -> pd.DataFrame:
    """``sums`` added up per source, exactly: the result does not depend on the order the
    partitions finished in."""
    codes, labels = pd.factorize(sums.index, sort=True)
    columns = {name: sums[name].to_numpy() for name in sums.columns}
    return _sums_by_source(columns, codes, pd.Index(labels, name=sums.index.name), _python_sum)


def _column_totals(sums: pd.DataFrame) -> pd.Series:
    """``sums`` added up over every source, exactly."""
    return pd.Series(
        {name: _python_sum(sums[name]) if _is_exact(name) else sums[name].sum()
         for name in sums.columns},
        dtype=object,
    )  # fmt: skip


def metric_partials(frame: pd.DataFrame) -> MetricPartials:
    """The partials of one partition of scored rows: each row-level figure as a NumPy array,
    summed per source in one pass (a pandas group-by of them costs more than the sums)."""
    ended_series = ended_flags(frame)
    ended = ended_series.to_numpy()
    reward = masked_rewards(frame, ended_series).to_numpy()
    correct = flag_values(frame["correct"], missing=False).to_numpy() & ended
    positive = reward > 0
    source = source_labels(frame).to_numpy()
    prompt = text_values(frame["prompt"]) if "prompt" in frame.columns else None
    alone = np.ones(len(frame), bool) if prompt is None else prompt.isna().to_numpy()
    votes = [vote_key(answer) for answer in _answers(frame)]
    voted = np.array([key is not None for key in votes], bool)
    generation = number_values(frame, "generation_length").to_numpy()
    prompt_length = number_values(frame, "prompt_length").to_numpy()
    solved_length = np.where(reward == 1, generation - prompt_length, np.nan)
    errors = text_values(frame["error"]).notna().to_numpy()
    kind = text_values(frame["error_kind"]).to_numpy()
    figures: dict[str, np.ndarray] = {
        "rows": np.ones(len(frame), bool),
        "reward": reward,
        "correct": correct,
        "ended": ended,
        **_total_and_count("generation_length", "generation_length_count", generation),
        **_total_and_count("prompt_length", "prompt_length_count", prompt_length),
        **_total_and_count("solved_length", "solved_length_count", solved_length),
        "errors": errors,
        "alone": alone,
        "alone_correct": alone & correct,
        "alone_positive": alone & positive,
        "alone_voted_correct": alone & correct & voted,
    }
    for name in ERROR_KINDS:
        figures[f"errors:{name}"] = kind == name
    for name in component_columns(frame.columns):
        values = number_values(frame, name).to_numpy()
        figures.update(_total_and_count(f"{name}:sum", f"{name}:count", values))
    labels, codes = np.unique(source, return_inverse=True)
    sums = _sums_by_source(figures, codes, pd.Index(labels, name="source"), exact_total)
    # already merged: one row per source, and one entry per (prompt, answer) of each
    tallies = _answer_tallies(labels, codes, prompt, votes, correct, positive)
    return MetricPartials(sums, tallies)


def _total_and_count(total: str, count: str, values: np.ndarray) -> dict[str, np.ndarray]:
    """A float figure's values to total (missing ones as 0.0), and which are present."""
    present = ~np.isnan(values)
    return {total: np.where(present, values, 0.0), count: present}


def _sums_by_source(
    columns: dict[str, np.ndarray],
    codes: np.ndarray,
    index: pd.Index,
    exact: Callable[[np.ndarray], int | float],
) -> pd.DataFrame:
    """Each column summed per source code (``index`` names the codes): the float figures
    exactly, by ``exact``, the counts as such."""
    return pd.DataFrame(
        {
            name: _source_sums(values, codes, index, exact if _is_exact(name) else None)
            for name, values in columns.items()
        },
        index=index,
    )


def _source_sums(
    values: np.ndarray,
    codes: np.ndarray,
    index: pd.Index,
    exact: Callable[[np.ndarray], int | float] | None,
) -> pd.Series:
    """Per source code, the sum of ``values``: by ``exact`` into Python numbers, in an object
    column built as such (pandas 2 would read integers past 64 bits as floats, and fail), or
    else as 64-bit counts."""
    if exact is not None:
        totals = [exact(values[codes == code]) for code in range(len(index))]
        return pd.Series(totals, index, object)
    counts = np.bincount(codes, weights=values, minlength=len(index)).astype(np.int64)
    return pd.Series(counts, index)


def _answer_tallies(
    labels: np.ndarray,
    codes: np.ndarray,
    prompt: pd.Series | None,
    votes: list[str | None],
    correct: np.ndarray,
    positive: np.ndarray,
) -> dict[str, AnswerTallies]:
    """Per source in sorted order (``labels``, each row's index in them ``codes``), the merged
    (prompt, answer) counts of the rows that have a prompt."""
    if prompt is None:
        return {}
    together = prompt.notna().to_numpy()
    prompts = _hashes(prompt[together].tolist())
    answers = _hashes([key for key, keep in zip(votes, together) if keep])
    codes = codes[together]
    correct, positive = correct[together], positive[together]
    tallies = {}
    for code in np.unique(codes).tolist():
        chosen = codes == code
        tallies[labels[code]] = AnswerTallies.of_samples(
            prompts[chosen], answers[chosen], correct[chosen], positive[chosen]
        )
    return tallies


def _answers(frame: pd.DataFrame) -> list[object]:
    if "extracted_answer" not in frame.columns:
        return [None] * len(frame)
    return python_values(frame["extracted_answer"])


class MetricAccumulator:
    """Partials gathered as partitions finish, merged down as they grow: when the entries added
    since the last merge outnumber both :data:`COMPACT_AT` and the merged ones, so the merges
    cost time in proportion to the entries, not to their square."""

    def __init__(self) -> None:
        self._parts: list[MetricPartials] = []
        self._merged_entries = 0
        self._pending_entries = 0

    def add(self, partials: MetricPartials) -> None:
        self._parts.append(partials)
        self._pending_entries += partials.entries()
        if self._pending_entries > max(COMPACT_AT, self._merged_entries):
            merged = self.partials()
            self._parts, self._merged_entries = [merged], merged.entries()
            self._pending_entries = 0

    def partials(self) -> MetricPartials:
        """Every partial added, merged."""
        return MetricPartials.joined(self._parts)

    def add_written(self, part_urls: list[str], client: Client) -> None:
        """Add the partials of written parts, each read on ``client``'s cluster."""
        for future in as_completed(client.map(read_part_partials, part_urls, pure=False)):
            self.add(future.result())

    def metrics(self) -> dict[str, Any]:
        return assemble_metrics(self.partials())


def read_part_partials(url: str) -> MetricPartials:
    """The partials of one written part, from its metric columns only (a Dask task); an
    :class:`InputError` for a part that cannot be read (cut short by hand, say)."""
    try:
        with fsspec.open(url, "rb") as handle:
            names = pq.read_schema(handle).names
            handle.seek(0)
            wanted = [
                name for name in names if name in METRIC_COLUMNS or name.startswith("reward_")
            ]
            table = pq.read_table(handle, columns=wanted)
    except (OSError, pa.ArrowException) as error:
        why = " ".join(str(error).split())
        raise InputError(f"{url} is not a readable Parquet part ({why})") from None
    missing = missing_scored_columns(names)
    if missing:
        raise InputError(f"{url} is not a scored part: it has no {', '.join(missing)} column")
    return metric_partials(table.to_pandas(types_mapper=pd.ArrowDtype))


def dataset_metrics(outdir: str, client: Client | None = None) -> dict[str, Any]:
    """Metrics of the parts written in ``outdir``, each reduced to partials on the cluster (the
    current client's by default)."""
    output = OutputDir(outdir)
    accumulator = MetricAccumulator()
    accumulator.add_written(output.part_urls(), client or get_client())
    return accumulator.metrics()


def _prompt_sums(
    tallies: PromptTallies, sums: pd.Series
) -> tuple[int, int, int, dict[int, tuple[float, int]], dict[int, tuple[float, int]]]:
    """Prompts, prompts with a rewarded sample, most samples of one prompt, and the pass@k and
    maj@k sums of a source's (or all) prompts, those without a prompt column included."""
    alone = int(sums.get("alone", 0))
    passes = pass_at_k_sums(sorted(tallies.counts.items()))
    majorities = majority_at_k_sums(sorted(tallies.signatures.items()))
    most = tallies.most
    if alone:
        most = max(most, 1)
        one_pass, one_prompts = passes.get(1, (0.0, 0))
        passes[1] = (one_pass + float(sums["alone_correct"]), one_prompts + alone)
        one_majority, majority_prompts = majorities.get(1, (0.0, 0))
        majorities[1] = (
            one_majority + float(sums["alone_voted_correct"]),
            majority_prompts + alone,
        )
    return (
        tallies.prompts + alone,
        tallies.positive + int(sums.get("alone_positive", 0)),
        most,
        passes,
        majorities,
    )


def _metrics_of(sums: pd.Series, tallies: PromptTallies) -> dict[str, Any]:
    """The metrics of one source (or of all)."""
    rows = int(sums["rows"])
    prompts, positive, most, passes, majorities = _prompt_sums(tallies, sums)

    def mean(total: str, count: float) -> float | None:
        if not count:
            return None
        if _is_exact(total):
            return exact_mean(sums[total], count)
        return float(sums[total]) / float(count)

    metrics: dict[str, Any] = {
        "rows": rows,
        "num_problems_in_batch": rows,
        "accuracy": mean("reward", rows),
        "fraction_correct": mean("correct", rows),
        "pass@samples_per_prompt": positive / prompts if prompts else None,
        "samples_per_prompt": most,
        "num_prompts": prompts,
        "pass@k": {str(k): total / n for k, (total, n) in sorted(passes.items()) if n},
        "maj@k": {str(k): total / n for k, (total, n) in sorted(majorities.items()) if n},
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


def assemble_metrics(partials: MetricPartials) -> dict[str, Any]:
    """The metrics document from merged partials: overall, then each source. Prompts are told
    apart within a source, so the overall prompt figures are the sum of the sources'."""
    sums = partials.sums
    by_source = {
        source: prompt_tallies(partials.answers.get(source, AnswerTallies()))
        for source in sums.index
    }
    metrics = _metrics_of(_column_totals(sums), sum(by_source.values(), PromptTallies()))
    metrics["by_data_source"] = {
        str(source): _metrics_of(sums.loc[source], by_source[source]) for source in sums.index
    }
    return metrics
