"""Math rewards: the answer checked against the ground truth with math-verify.

Each math reward is two functions: its answer (what it extracts from a response) and its
result, which checks exactly that answer; the question it puts to math-verify is
:func:`question` of that answer, so a batch can ask every question ahead of scoring
(:mod:`rollscore.rewards.batch`) and the result then finds the verdict remembered.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollscore.rewards.result import RewardResult
from rollscore.rewards.tags import (
    BOXED_TOKEN,
    has_boxed_after_think,
    last_boxed_content,
    tag_content,
)
from rollscore.rewards.verifier import pool
from rollscore.rewards.verifier.pool import DEFAULT_LIMITS
from rollscore.rewards.verifier.requests import SampleLimits

CORRECT_ABOVE = 0.1
"""NeMo-RL's threshold on math-verify's score (0.0 or 1.0): above it, the answer is right."""

Question = tuple[tuple[str, ...], tuple[str, ...]]
"""What a reward asks math-verify: its golds and its predictions."""


def boxed(text: str) -> str:
    """``\\boxed{text}``, unless ``text`` already starts with ``\\boxed{``."""
    return text if text.startswith(BOXED_TOKEN) else BOXED_TOKEN + text + "}"


def question(ground_truth: str, answer: str) -> Question:
    """What checking ``answer`` against ``ground_truth`` asks math-verify: both boxed."""
    return (boxed(ground_truth),), (boxed(answer),)


def math_verify_func(golds: Sequence[str], predictions: Sequence[str]) -> tuple[float, None]:
    """math-verify's metric (gold: LaTeX extraction; prediction: expression, then LaTeX).

    Returns ``(score, None)`` like math-verify's ``math_metric`` when it skips the string
    forms, which it does here always: printing a huge number can run for minutes. Safe in
    any thread and bounded in time (see :mod:`rollscore.rewards.verifier.pool`); a timeout
    scores 0.0.
    """
    score, _ = pool.scoring_processes.verify(golds, predictions)
    return score, None


def _judged(ground_truth: str, answer: str, limits: SampleLimits) -> RewardResult:
    """The answer checked by math-verify: 1.0 when equivalent, and why not, if it could not say."""
    verdict = pool.scoring_processes.verdict(*question(ground_truth, answer), limits)
    correct = verdict.score > CORRECT_ABOVE
    return RewardResult(
        1.0 if correct else 0.0,
        correct,
        answer,
        problem=verdict.problem,
        verify_seconds=verdict.seconds,
    )


def math_expression_answer(ground_truth: str, response: str, tag: str = "answer") -> str | None:
    """The answer :func:`math_expression_result` checks: the ``<tag>`` content, or None."""
    return tag_content(response, tag)


def math_expression_result(
    ground_truth: str,
    response: str,
    tag: str = "answer",
    *,
    limits: SampleLimits = DEFAULT_LIMITS,
) -> RewardResult:
    """1.0 when the ``<tag>`` content is the same expression as the ground truth, else 0.0;
    math-verify runs within ``limits``."""
    answer = math_expression_answer(ground_truth, response, tag)
    if answer is None:
        return RewardResult(0.0, False)
    return _judged(ground_truth, answer, limits)


def geo3k_answer(ground_truth: str, response: str, format_score: float = 0.1) -> str | None:
    """The answer :func:`geo3k_result` checks: the content of the last ``\\boxed{}``, or None."""
    return last_boxed_content(response)


def geo3k_result(
    ground_truth: str,
    response: str,
    format_score: float = 0.1,
    *,
    limits: SampleLimits = DEFAULT_LIMITS,
) -> RewardResult:
    """The last ``\\boxed{}`` answer graded by math-verify, plus a ``</think> ... \\boxed{}``
    format bonus: ``(1 - format_score) * accuracy + format_score * format``."""
    has_format = 1.0 if has_boxed_after_think(response) else 0.0
    answer = geo3k_answer(ground_truth, response, format_score)
    judged = RewardResult(0.0, False) if answer is None else _judged(ground_truth, answer, limits)
    reward = (1.0 - format_score) * judged.reward + format_score * has_format
    return RewardResult(
        reward,
        judged.correct,
        answer,
        problem=judged.problem,
        verify_seconds=judged.verify_seconds,
    )


def math_expression_reward(
    ground_truth: str, response: str, tag: str = "answer"
) -> tuple[float, bool]:
    """NeMo-RL's math reward: :func:`math_expression_result`'s ``(reward, correct)``; a
    timeout scores ``(0.0, False)``."""
    return math_expression_result(ground_truth, response, tag).pair


def geo3k_reward(ground_truth: str, response: str, format_score: float = 0.1) -> tuple[float, bool]:
    """:func:`geo3k_result`'s ``(reward, correct)``."""
    return geo3k_result(ground_truth, response, format_score).pair
