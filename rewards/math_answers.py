"""Math rewards: the answer checked against the ground truth with math-verify."""

from __future__ import annotations

from collections.abc import Sequence

from rewards.result import RewardResult
from rewards.scoring_children import children
from rewards.tags import BOXED_TOKEN, has_boxed_after_think, last_boxed_content, tag_content

CORRECT_ABOVE = 0.1
"""NeMo-RL's threshold on math-verify's score (0.0 or 1.0): above it, the answer is right."""


def boxed(text: str) -> str:
    """``\\boxed{text}``, unless ``text`` already starts with ``\\boxed{``."""
    return text if text.startswith(BOXED_TOKEN) else BOXED_TOKEN + text + "}"


def math_verify_func(golds: Sequence[str], predictions: Sequence[str]) -> tuple[float, None]:
    """math-verify's metric (gold: LaTeX extraction; prediction: expression, then LaTeX).

    Returns ``(score, None)`` like math-verify's ``math_metric`` when it skips the string
    forms, which it does here always: printing a huge number can run for minutes. Safe in
    any thread and bounded in time (see :mod:`rewards.scoring_children`); a timeout scores 0.0.
    """
    score, _ = children.verify(golds, predictions)
    return score, None


Question = tuple[tuple[str, ...], tuple[str, ...]]
"""What a reward asks math-verify: its golds and its predictions."""


def _question(ground_truth: str, answer: str) -> Question:
    return (boxed(ground_truth),), (boxed(answer),)


def _judged(ground_truth: str, answer: str) -> RewardResult:
    """The answer checked by math-verify: 1.0 when equivalent, and why not, if it could not say."""
    score, problem = children.verify(*_question(ground_truth, answer))
    correct = score > CORRECT_ABOVE
    return RewardResult(1.0 if correct else 0.0, correct, answer, problem=problem)


def math_expression_result(ground_truth: str, response: str, tag: str = "answer") -> RewardResult:
    """1.0 when the ``<tag>`` content is the same expression as the ground truth, else 0.0."""
    answer = tag_content(response, tag)
    if answer is None:
        return RewardResult(0.0, False)
    return _judged(ground_truth, answer)


def math_expression_question(
    ground_truth: str, response: str, tag: str = "answer"
) -> Question | None:
    """What :func:`math_expression_result` asks math-verify, or None if it asks nothing."""
    answer = tag_content(response, tag)
    return None if answer is None else _question(ground_truth, answer)


def geo3k_result(ground_truth: str, response: str, format_score: float = 0.1) -> RewardResult:
    """The last ``\\boxed{}`` answer graded by math-verify, plus a ``</think> ... \\boxed{}``
    format bonus: ``(1 - format_score) * accuracy + format_score * format``."""
    has_format = 1.0 if has_boxed_after_think(response) else 0.0
    answer = last_boxed_content(response)
    judged = _judged(ground_truth, answer) if answer is not None else RewardResult(0.0, False)
    reward = (1.0 - format_score) * judged.reward + format_score * has_format
    return RewardResult(reward, judged.correct, answer, problem=judged.problem)


def geo3k_question(ground_truth: str, response: str, format_score: float = 0.1) -> Question | None:
    """What :func:`geo3k_result` asks math-verify, or None if it asks nothing."""
    answer = last_boxed_content(response)
    return None if answer is None else _question(ground_truth, answer)


def math_expression_reward(
    ground_truth: str, response: str, tag: str = "answer"
) -> tuple[float, bool]:
    """NeMo-RL's math reward: :func:`math_expression_result`'s ``(reward, correct)``; a
    timeout scores ``(0.0, False)``."""
    return math_expression_result(ground_truth, response, tag).pair


def geo3k_reward(ground_truth: str, response: str, format_score: float = 0.1) -> tuple[float, bool]:
    """:func:`geo3k_result`'s ``(reward, correct)``."""
    return geo3k_result(ground_truth, response, format_score).pair
