"""Metrics reduced from partials as partitions finish: the same figures whatever the order
and cadence of the merges, and merges whose work grows with the entries, not their square."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from rollscore.pipeline import metrics, tallies
from rollscore.pipeline.estimators import mean_majority_at_k, mean_pass_at_k, signature, vote_key
from rollscore.pipeline.metrics import (
    ERROR_KINDS,
    EXACT_UNIT_BITS,
    MetricAccumulator,
    MetricPartials,
    assemble_metrics,
    ended_flags,
    flag_values,
    masked_rewards,
    metric_partials,
    number_values,
    source_labels,
    text_values,
)
from rollscore.pipeline.values import python_values


def scored_partition(first_prompt: int, prompts: int, seed: int) -> pd.DataFrame:
    """Scored rows of ``prompts`` prompts, 4 samples each, answers voted among a few."""
    rng = random.Random(seed)
    rows = []
    for prompt in range(first_prompt, first_prompt + prompts):
        source = rng.choice(["math", "choice"])
        for _ in range(4):
            answer = rng.choice(["1", "2", "3", None])
            correct = answer == "1"
            rows.append(
                {
                    "prompt": f"problem {prompt}",
                    "data_source": source,
                    "reward": 1.0 if correct else rng.choice([0.0, 0.2, rng.random() / 3]),
                    "correct": correct,
                    "extracted_answer": answer,
                    "error": None,
                    "error_kind": None,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def partials() -> list[MetricPartials]:
    """The partials of 80 partitions of 5 new prompts each."""
    return [metric_partials(scored_partition(5 * index, 5, seed=index)) for index in range(80)]


def test_merging_as_partitions_finish_gives_the_figures_of_one_merge(monkeypatch, partials):
    at_once = assemble_metrics(MetricPartials.joined(partials))
    monkeypatch.setattr(metrics, "COMPACT_AT", 30)
    accumulator = MetricAccumulator()
    for index in random.Random(7).sample(range(len(partials)), len(partials)):
        accumulator.add(partials[index])

    assert accumulator.metrics() == at_once
    assert at_once["num_prompts"] == 400
    assert at_once["rows"] == 1600


def by_hand(rows: pd.DataFrame) -> dict[str, object]:
    """Prompts, pass@k and maj@k of scored rows, prompt by prompt with the estimators (a
    prompt is told apart within its source)."""
    prompts = rows.groupby(["data_source", "prompt"], sort=False)
    counts = [(len(group), int(group["correct"].sum())) for _, group in prompts]
    signatures = [
        signature(zip(map(vote_key, group["extracted_answer"]), group["correct"]))
        for _, group in prompts
    ]
    return {
        "num_prompts": len(counts),
        "pass@k": {str(k): value for k, value in mean_pass_at_k(counts).items()},
        "maj@k": {str(k): value for k, value in mean_majority_at_k(signatures).items()},
    }


def test_prompt_figures_equal_the_estimators_applied_prompt_by_prompt(monkeypatch):
    rng = random.Random(11)
    # prompts of 1 to 9 samples, cut across partitions at random; a few prompts in two sources
    rows = pd.concat(
        [scored_partition(index, 1, seed=index).head(rng.randint(1, 4)) for index in range(600)]
        * 3,
        ignore_index=True,
    ).sample(frac=1.0, random_state=5)
    rows.loc[rows.index[:40], "data_source"] = "other"
    monkeypatch.setattr(tallies, "PROMPTS_AT_ONCE", 7)
    monkeypatch.setattr(metrics, "COMPACT_AT", 50)
    accumulator = MetricAccumulator()
    for start in range(0, len(rows), 97):
        accumulator.add(metric_partials(rows.iloc[start : start + 97]))
    figures = accumulator.metrics()

    for source, expected in [(None, by_hand(rows))] + [
        (name, by_hand(group)) for name, group in rows.groupby("data_source")
    ]:
        got = figures if source is None else figures["by_data_source"][source]
        assert {name: got[name] for name in expected} == expected
    assert figures["num_prompts"] > 600  # prompts with rows in two sources count in each


def test_float_totals_are_exact_in_any_order():
    rng = random.Random(3)
    special = [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 0.1]
    values = special + [rng.uniform(-1, 1) * 10 ** rng.randint(-300, 300) for _ in range(3000)]
    exact = sum(Fraction(value) for value in values)
    halves = metrics.exact_total(np.array(values[:1500])) + metrics.exact_total(
        np.array(values[1500:])
    )

    assert Fraction(metrics.exact_total(np.array(values)), 2**metrics.EXACT_UNIT_BITS) == exact
    assert halves == metrics.exact_total(np.array(values[::-1]))
    assert metrics.exact_mean(halves, len(values)) == float(exact / len(values))
    assert metrics.exact_mean(np.int64(0), 12) == 0.0  # a total pandas kept as a NumPy integer
    huge = metrics.exact_total(np.array([1.7976931348623157e308] * 4))
    assert metrics.exact_mean(huge, 4) == 1.7976931348623157e308  # a finite mean of a huge sum
    with pytest.raises(ValueError, match="finite"):
        metrics.exact_total(np.array([1.0, math.inf]))


@pytest.mark.parametrize("compact_at", [10, 100])
def test_merges_handle_each_entry_a_bounded_number_of_times(monkeypatch, compact_at, partials):
    monkeypatch.setattr(metrics, "COMPACT_AT", compact_at)
    merged_rows = []
    plain_merged = MetricPartials.merged

    def counted(merging: MetricPartials) -> MetricPartials:
        merged_rows.append(merging.entries())
        return plain_merged(merging)

    monkeypatch.setattr(MetricPartials, "merged", counted)
    accumulator = MetricAccumulator()
    for part in partials:
        accumulator.add(part)
    accumulator.metrics()

    entries = sum(part.entries() for part in partials)
    # Every merge at least doubles what is merged, so each entry is merged about log times
    # at most; merging everything on each add would cost entries * partitions / 2.
    assert sum(merged_rows) <= 4 * entries


HOSTILE_VALUES = {
    "reward": [0.0, 1.0, 0.5, None, math.nan, 0.2, -0.0, 5e-324, 1.7976931348623157e308],
    "correct": [True, False, None, math.nan, 1, 0, "yes"],
    "is_end": [True, False, None, 1, 0, math.nan],
    "data_source": ["a", "b", None, 3, "", "\u03a9", math.nan, metrics.NO_SOURCE],
    "prompt": ["p1", "p2", None, 5, "p3", math.nan],
    "extracted_answer": ["1", " 1 ", None, "", 2, "x  y", math.nan],
    "error": [None, "bad", 7, math.nan],
    "error_kind": [None, *ERROR_KINDS, "other", 3],
    "generation_length": [10, 5.5, None, math.inf, "12", "x", -3, math.nan, 1e308],
    "prompt_length": [3, None, 2.5, -math.inf, "x", 7],
    "reward_math": [1.0, 0.0, None, math.nan, 0.3, 1e-300],
}
"""Values a partition's columns may hold, missing and mistyped ones among them."""
ARROW_TYPES = {
    "reward": pa.float64(),
    "correct": pa.bool_(),
    "is_end": pa.bool_(),
    "data_source": pa.string(),
    "prompt": pa.string(),
    "extracted_answer": pa.string(),
    "error": pa.string(),
    "error_kind": pa.string(),
    "generation_length": pa.int64(),
    "reward_math": pa.float64(),
}
"""The types of a run's partitions (read with Arrow types, scored by the kernel)."""


def hostile_partition(rng: random.Random, rows: int) -> pd.DataFrame:
    """Rows of values drawn from :data:`HOSTILE_VALUES`: as Python objects, or, one time in
    three, as a run's Arrow-typed columns of the values those types hold."""
    arrow = rng.random() < 1 / 3
    columns = {}
    for name, choices in HOSTILE_VALUES.items():
        if name not in ("reward", "correct", "error", "error_kind") and rng.random() < 0.2:
            continue  # optional columns are sometimes missing
        if arrow and name not in ARROW_TYPES:
            continue
        if arrow:
            kind = ARROW_TYPES[name]
            fits = [value for value in choices if _fits(value, kind)]
            column = pd.array([rng.choice(fits) for _ in range(rows)], pd.ArrowDtype(kind))
        else:
            column = pd.array([rng.choice(choices) for _ in range(rows)], dtype=object)
        columns[name] = column
    return pd.DataFrame(columns)


def _fits(value: object, kind: pa.DataType) -> bool:
    if value is None:
        return True
    if pa.types.is_string(kind):
        return isinstance(value, str)
    if pa.types.is_boolean(kind):
        return isinstance(value, bool)
    if pa.types.is_integer(kind):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, float) and not math.isnan(value)


def sums_row_by_row(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per source, each figure of :func:`metric_partials` summed row by row in Python, the
    float totals as exact fractions in units of 2**-EXACT_UNIT_BITS."""
    ended = ended_flags(frame).tolist()
    reward = masked_rewards(frame, ended_flags(frame)).tolist()
    correct = [flag and end for flag, end in zip(flag_values(frame["correct"], False), ended)]
    source = source_labels(frame).tolist()
    prompt = text_values(frame["prompt"]).tolist() if "prompt" in frame else [None] * len(frame)
    answers = frame["extracted_answer"].tolist() if "extracted_answer" in frame else []
    votes = [vote_key(answer) for answer in answers] or [None] * len(frame)
    generation = number_values(frame, "generation_length").tolist()
    prompt_length = number_values(frame, "prompt_length").tolist()
    error = text_values(frame["error"]).tolist()
    kind = text_values(frame["error_kind"]).tolist()
    components = {
        name: number_values(frame, name).tolist() for name in frame if name.startswith("reward_")
    }
    totals: dict[str, dict[str, Fraction]] = {}
    for row in range(len(frame)):
        alone = prompt[row] is None
        solved = generation[row] - prompt_length[row] if reward[row] == 1 else math.nan
        figures = {
            "rows": 1,
            "reward": reward[row],
            "correct": correct[row],
            "ended": ended[row],
            **_total_and_count("generation_length", "generation_length_count", generation[row]),
            **_total_and_count("prompt_length", "prompt_length_count", prompt_length[row]),
            **_total_and_count("solved_length", "solved_length_count", solved),
            "errors": error[row] is not None,
            "alone": alone,
            "alone_correct": alone and correct[row],
            "alone_positive": alone and reward[row] > 0,
            "alone_voted_correct": alone and correct[row] and votes[row] is not None,
            **{f"errors:{name}": kind[row] == name for name in ERROR_KINDS},
        }
        for name, values in components.items():
            figures.update(_total_and_count(f"{name}:sum", f"{name}:count", values[row]))
        sums = totals.setdefault(source[row], {})
        for name, value in figures.items():
            sums[name] = sums.get(name, 0) + Fraction(value)
    return {
        source: {name: int(total * 2**EXACT_UNIT_BITS) if _is_total(name) else int(total)
                 for name, total in sums.items()}
        for source, sums in totals.items()
    }  # fmt: skip


def _is_total(name: str) -> bool:
    """Whether a figure is a float total, carried exactly, rather than a count."""
    return name in metrics.EXACT_TOTALS or name.endswith(":sum")


def _total_and_count(total: str, count: str, value: float) -> dict[str, float]:
    """A row's value to total (0.0 when missing) and whether it counts."""
    present = not math.isnan(value)
    return {total: value if present else 0.0, count: present}


def test_partials_equal_the_figures_summed_row_by_row_on_hostile_partitions():
    rng = random.Random(29)
    for trial in range(150):
        frame = hostile_partition(rng, rng.choice([1, 2, 7, 60, 300]))
        sums = metric_partials(frame).sums

        assert list(sums.index) == sorted(sums.index), trial
        assert sums.to_dict(orient="index") == sums_row_by_row(frame), trial
        assert all(isinstance(value, int) for value in sums.to_numpy().ravel()), trial


def test_python_values_are_what_pandas_tolist_gives():
    rng = random.Random(31)
    for trial in range(200):
        frame = hostile_partition(rng, rng.choice([0, 1, 50]))
        for name in frame:
            fast, plain = python_values(frame[name]), frame[name].tolist()
            assert [_comparable(value) for value in fast] == [
                _comparable(value) for value in plain
            ], (trial, name)


def _comparable(value: object) -> tuple[type, object]:
    """A value's type and value, with NA and NaN (which equal nothing) as markers."""
    if value is pd.NA:
        return type(value), "NA"
    if isinstance(value, float) and math.isnan(value):
        return type(value), "NaN"
    return type(value), value
