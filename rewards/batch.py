"""Batch scoring: the one entry point the pipeline and the adapter call per partition."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from rewards.combine import RewardFunction, combine_scores
from rewards.config import RewardSet, ScoringConfig
from rewards.errors import describe
from rewards.math_verifier import sample_time_limit
from rewards.notes import collecting_notes


@dataclass
class BatchScores:
    """Per-row results, as columns: what batch scoring returns."""

    reward: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=dict)
    extracted_answer: list[str | None] = field(default_factory=list)
    error: list[str | None] = field(default_factory=list)


def bad_input(ground_truth: object, response: object) -> str | None:
    """Why a row cannot be scored (a missing or non-string field), or None if it can."""
    for field_name, value in (("ground_truth", ground_truth), ("response", response)):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"bad input: {field_name} is missing"
        if not isinstance(value, str):
            return f"bad input: {field_name} is {type(value).__name__}, not a string"
    return None


class _ResolvedSet:
    """A reward set's functions resolved once per batch, not once per row."""

    def __init__(self, reward_set: RewardSet) -> None:
        self.columns = [spec.column for spec in reward_set.specs]
        self.functions: list[RewardFunction] = [spec.function() for spec in reward_set.specs]
        self.weights = reward_set.weights


def score_batch(
    config: ScoringConfig,
    ground_truths: Sequence[object],
    responses: Sequence[object],
    data_sources: Sequence[object] | None = None,
) -> BatchScores:
    """Score each (ground truth, response) pair with the config's rewards.

    Each row gets the combined reward and correctness flag exactly as the combined reward
    function returns them, each component's reward (NaN where a component does not apply to
    the row's data source, or raised), the extracted answer, and ``error``: None, or why the
    row's score is not trustworthy (``bad input: ...``, ``timeout: ...``, ``exception: ...``).
    A bad row scores 0.0 and never stops the batch.
    """
    if len(ground_truths) != len(responses):
        raise ValueError(f"{len(ground_truths)} ground truths but {len(responses)} responses")
    if data_sources is not None and len(data_sources) != len(responses):
        raise ValueError(f"{len(data_sources)} data sources but {len(responses)} responses")
    sources = data_sources if data_sources is not None else [None] * len(responses)
    resolved: dict[int, _ResolvedSet] = {}
    scores = BatchScores(components={column: [] for column in config.component_columns})
    with sample_time_limit(config.sample_timeout):
        for ground_truth, response, source in zip(ground_truths, responses, sources):
            reward_set = config.rewards_for(source)
            functions = resolved.get(id(reward_set))
            if functions is None:
                functions = resolved[id(reward_set)] = _ResolvedSet(reward_set)
            _score_row(scores, functions, ground_truth, response)
    return scores


def _score_row(
    scores: BatchScores, resolved: _ResolvedSet, ground_truth: object, response: object
) -> None:
    values: dict[str, float] = {}
    error = bad_input(ground_truth, response)
    answer = None
    reward, correct = 0.0, False
    if error is None:
        results = []
        with collecting_notes() as notes:
            for column, function in zip(resolved.columns, resolved.functions):
                try:
                    value, flag = function(ground_truth, response)
                    results.append((float(value), flag))
                    values[column] = results[-1][0]
                except Exception as raised:
                    error = error or describe(raised, f"exception: {column}: ")
        answer, error = notes.answer, error or notes.problem
        if len(results) == len(resolved.functions):
            reward, correct = combine_scores(results, resolved.weights)
    scores.reward.append(reward)
    scores.correct.append(correct)
    scores.extracted_answer.append(answer)
    scores.error.append(error)
    for column, column_values in scores.components.items():
        column_values.append(values.get(column, math.nan))
