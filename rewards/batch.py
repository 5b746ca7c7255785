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

Beside the rows, a batch's scores say what scoring it cost (:class:`BatchStats`): the wall
seconds spent asking math-verify (ahead and in the math rewards), in users' functions and in
the other rewards; the seconds math-verify took on each question it was asked; and how many
questions its memo answered. Only the scoring knows these; the caller reports them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rollscore.rewards.combine import combine_scores
from rollscore.rewards.config import RewardSet, RewardSpec, ScoringConfig
from rollscore.rewards.errors import VerifierUnavailable, describe
from rollscore.rewards.math_answers import Question
from rollscore.rewards.registry import SCORING_PROCESS, Reward, Scorer, reward_named
from rollscore.rewards.result import ErrorKind, Problem, RewardResult
from rollscore.rewards.verifier import pool
from rollscore.rewards.verifier.requests import SampleLimits

AHEAD_ROWS = 4096
"""Rows whose questions to math-verify are asked ahead together, before they are scored (see
:meth:`~rollscore.rewards.verifier.pool.ScoringProcesses.verify_ahead`): a bounded share of the
memo."""


MATH_VERIFY = "math-verify"
USER_FUNCTIONS = "user-functions"
OTHER_REWARDS = "other-rewards"
ACTIVITIES = (MATH_VERIFY, USER_FUNCTIONS, OTHER_REWARDS)
"""Where scoring a batch spends its time, as :attr:`BatchStats.seconds` names it."""


@dataclass
class BatchStats:
    """What scoring a batch cost."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ACTIVITIES, 0.0))
    """Wall seconds by activity (:data:`ACTIVITIES`): math-verify (the questions asked ahead,
    and the math rewards), users' functions, and the other rewards."""
    math_verify_seconds: list[float] = field(default_factory=list)
    """The seconds math-verify took on each question it was asked (a remembered one is not)."""
    memo_hits: int = 0
    """The rows' questions to math-verify that its memo answered."""


@dataclass
class BatchScores:
    """Per-row results, as columns, and what scoring them cost: what batch scoring returns."""

    reward: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=dict)
    extracted_answer: list[str | None] = field(default_factory=list)
    error: list[str | None] = field(default_factory=list)
    error_kind: list[str | None] = field(default_factory=list)
    stats: BatchStats = field(default_factory=BatchStats)


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


def _activity(reward: Reward) -> int:
    """The index in :data:`ACTIVITIES` of where a reward spends its time."""
    if reward.math_answer is not None:
        return ACTIVITIES.index(MATH_VERIFY)
    if reward.runs_in == SCORING_PROCESS:
        return ACTIVITIES.index(USER_FUNCTIONS)
    return ACTIVITIES.index(OTHER_REWARDS)


class _ResolvedSet:
    """A reward set's scorers, built once per batch, not once per row."""

    def __init__(self, reward_set: RewardSet, limits: SampleLimits) -> None:
        rewards = [(reward_named(spec.name), dict(spec.kwargs)) for spec in reward_set.specs]
        self.columns = [spec.column for spec in reward_set.specs]
        self.scorers = [
            _guarded(reward.scorer(kwargs, limits), reward.name) for reward, kwargs in rewards
        ]
        self.activities = [_activity(reward) for reward, _ in rewards]
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
    seconds = [0.0] * len(ACTIVITIES)  # by activity, as a list: added to once per reward call
    questions = 0
    for start in range(0, len(rows), AHEAD_ROWS):
        ahead = rows[start : start + AHEAD_ROWS]
        started = time.perf_counter()
        asked = pool.scoring_processes.verify_ahead(_questions(ahead), config.sample_limits)
        seconds[ACTIVITIES.index(MATH_VERIFY)] += time.perf_counter() - started
        questions += asked.questions
        scores.stats.math_verify_seconds += asked.seconds
        for row in ahead:
            _score_row(scores, row, seconds)
    scores.stats.seconds = dict(zip(ACTIVITIES, seconds))
    # each question the rows put to math-verify was asked (ahead, or again when its row was
    # scored if its verdict was not remembered) or answered from the memo
    scores.stats.memo_hits = max(0, questions - len(scores.stats.math_verify_seconds))
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


def _score_row(scores: BatchScores, row: Row, seconds: list[float]) -> None:
    """Score one row into ``scores``, adding the time each of its rewards took to ``seconds``
    (by activity) and math-verify's time on a question asked again to the stats."""
    resolved, ground_truth, response, problem = row
    values: dict[str, float] = {}
    answer = None
    reward, correct = 0.0, False
    if problem is None:
        results = []
        for scorer, activity in zip(resolved.scorers, resolved.activities):
            started = time.perf_counter()
            result = scorer(ground_truth, response)
            seconds[activity] += time.perf_counter() - started
            results.append(result)
            if result.verify_seconds is not None:
                scores.stats.math_verify_seconds.append(result.verify_seconds)
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
