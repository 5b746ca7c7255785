"""Batch scoring: the one entry point the pipeline and the adapter call per partition.

Per row: the combined reward and correctness flag exactly as the combined reward function
returns them, each component's reward, the extracted answer, and the error (its text and its
:class:`~rollscore.rewards.result.ErrorKind`). Built-in rewards run here; math-verify and users'
``"package.module:function"`` rewards run in the scoring processes
(:mod:`rollscore.rewards.verifier.pool`), bounded by the config's ``sample_timeout`` and
``sample_memory_mb``. Before the rows are scored, the distinct questions their math rewards will
put to math-verify are asked ahead, several in flight to one scoring process.

One policy for a row with an error, whatever the kind (a bad input, a timeout, a reward that
raised, crashed or returned a non-number): it scores 0.0 and is incorrect, whatever its other
rewards gave; its ``reward_<name>`` columns keep what each reward that succeeded returned, NaN
for the one that failed.

The extracted answer is one of the answers the row's rewards extracted, chosen independently of
the order of ``reward_functions``: answers found in a tag or a ``\\boxed{}`` come before a
whole-response fallback, then the reward of larger weight, then the smaller config name (and
kwargs) in alphabetical order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rollscore.rewards.combine import combine_scores
from rollscore.rewards.config import RewardSet, RewardSpec, ScoringConfig
from rollscore.rewards.errors import VerifierUnavailable, describe
from rollscore.rewards.math_answers import Question
from rollscore.rewards.registry import Scorer, reward_named
from rollscore.rewards.result import ErrorKind, Problem, RewardResult
from rollscore.rewards.verifier import pool
from rollscore.rewards.verifier.requests import SampleLimits

AHEAD_ROWS = 4096
"""Rows whose questions to math-verify are asked ahead together, before they are scored (see
:meth:`~rollscore.rewards.verifier.pool.ScoringProcesses.verify_ahead`): a bounded share of the
memo."""


@dataclass
class BatchScores:
    """Per-row results, as columns: what batch scoring returns."""

    reward: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=dict)
    extracted_answer: list[str | None] = field(default_factory=list)
    error: list[str | None] = field(default_factory=list)
    error_kind: list[str | None] = field(default_factory=list)


def bad_input(ground_truth: object, response: object) -> Problem | None:
    """Why a row cannot be scored (a missing or non-string field), or None if it can."""
    for field_name, value in (("ground_truth", ground_truth), ("response", response)):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return Problem(ErrorKind.BAD_INPUT, f"{field_name} is missing")
        if not isinstance(value, str):
            return Problem(
                ErrorKind.BAD_INPUT, f"{field_name} is {type(value).__name__}, not a string"
            )
    return None


def _guarded(scorer: Scorer, name: str) -> Scorer:
    """``scorer``, with an exception it raises costing its row only."""

    def scored(ground_truth: str, response: str) -> RewardResult:
        try:
            return scorer(ground_truth, response)
        except VerifierUnavailable:
            raise  # nothing can be scored: stop the work, not one row
        except Exception as error:
            problem = Problem(ErrorKind.REWARD_EXCEPTION, describe(error, f"{name} raised "))
            return RewardResult(0.0, False, problem=problem)

    return scored


def _answer_priority(specs: Sequence[RewardSpec]) -> list[int]:
    """Indices of the specs in the order their answers are preferred (fallbacks aside): larger
    weight first, then name and kwargs; never the order they are listed in."""
    return sorted(
        range(len(specs)),
        key=lambda index: (-specs[index].weight, specs[index].name, repr(specs[index].kwargs)),
    )


class _ResolvedSet:
    """A reward set's scorers, built once per batch, not once per row."""

    def __init__(self, reward_set: RewardSet, limits: SampleLimits) -> None:
        rewards = [(reward_named(spec.name), dict(spec.kwargs)) for spec in reward_set.specs]
        self.columns = [spec.column for spec in reward_set.specs]
        self.scorers = [
            _guarded(reward.scorer(kwargs, limits), reward.name) for reward, kwargs in rewards
        ]
        self.weights = reward_set.weights
        self.priority = _answer_priority(reward_set.specs)
        self.questions = [
            reward.question_of(kwargs) for reward, kwargs in rewards if reward.math_answer
        ]


Row = tuple[_ResolvedSet, object, object, Problem | None]
"""A row's rewards, ground truth, response, and why it cannot be scored (None if it can)."""


def score_batch(
    config: ScoringConfig,
    ground_truths: Sequence[object],
    responses: Sequence[object],
    data_sources: Sequence[object] | None = None,
) -> BatchScores:
    """Score each (ground truth, response) pair with the config's rewards (see the module's
    docstring for what a row gets). A bad row scores 0.0 and never stops the batch; only a
    scoring process that cannot start at all raises (:class:`~.errors.VerifierUnavailable`)."""
    if len(ground_truths) != len(responses):
        raise ValueError(f"{len(ground_truths)} ground truths but {len(responses)} responses")
    if data_sources is not None and len(data_sources) != len(responses):
        raise ValueError(f"{len(data_sources)} data sources but {len(responses)} responses")
    sources = data_sources if data_sources is not None else [None] * len(responses)
    resolved: dict[int, _ResolvedSet] = {}
    rows: list[Row] = []
    for ground_truth, response, source in zip(ground_truths, responses, sources):
        reward_set = config.rewards_for(source)
        functions = resolved.get(id(reward_set))
        if functions is None:
            functions = resolved[id(reward_set)] = _ResolvedSet(reward_set, config.sample_limits)
        rows.append((functions, ground_truth, response, bad_input(ground_truth, response)))
    scores = BatchScores(components={column: [] for column in config.component_columns})
    for start in range(0, len(rows), AHEAD_ROWS):
        ahead = rows[start : start + AHEAD_ROWS]
        pool.scoring_processes.verify_ahead(_questions(ahead), config.sample_limits)
        for row in ahead:
            _score_row(scores, row)
    return scores


def _questions(rows: Sequence[Row]) -> Iterator[Question]:
    """What the rows' rewards will ask math-verify, in row order."""
    for functions, ground_truth, response, problem in rows:
        if problem is not None:
            continue
        for question_of in functions.questions:
            try:
                question = question_of(ground_truth, response)
            except Exception:  # asked nothing ahead: the reward says what is wrong when it runs
                continue
            if question is not None:
                yield question


def _score_row(scores: BatchScores, row: Row) -> None:
    resolved, ground_truth, response, problem = row
    values: dict[str, float] = {}
    answer = None
    reward, correct = 0.0, False
    if problem is None:
        results = [scorer(ground_truth, response) for scorer in resolved.scorers]
        values = {
            column: result.reward
            for column, result in zip(resolved.columns, results)
            if result.problem is None
        }
        answer = _chosen_answer(results, resolved.priority)
        problem = next(
            (results[i].problem for i in resolved.priority if results[i].problem is not None),
            None,
        )
        if problem is None:  # finite rewards and weights summing to 1: a finite sum
            reward, correct = combine_scores([result.pair for result in results], resolved.weights)
    scores.reward.append(reward)
    scores.correct.append(correct)
    scores.extracted_answer.append(answer)
    scores.error.append(None if problem is None else problem.message)
    scores.error_kind.append(None if problem is None else problem.kind.value)
    for column, column_values in scores.components.items():
        column_values.append(values.get(column, math.nan))


def _chosen_answer(results: Sequence[RewardResult], priority: Sequence[int]) -> str | None:
    """The extracted answer by the rule of the module's docstring."""
    fallback = None
    for index in priority:
        result = results[index]
        if result.answer is None:
            continue
        if not result.fallback:
            return result.answer
        fallback = fallback if fallback is not None else result.answer
    return fallback
