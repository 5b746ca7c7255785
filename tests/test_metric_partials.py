"""Metrics reduced from partials as partitions finish: the same figures whatever the order
and cadence of the merges, and merges whose work grows with the entries, not their square."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from rollscore.pipeline import metrics, tallies
from rollscore.pipeline.estimators import mean_majority_at_k, mean_pass_at_k, signature, vote_key
from rollscore.pipeline.metrics import (
    MetricAccumulator,
    MetricPartials,
    assemble_metrics,
    metric_partials,
)


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
