"""Exact-answer rewards: the answer equals the ground truth up to case and punctuation."""

from __future__ import annotations

from rollscore.rewards.result import RewardResult
from rollscore.rewards.tags import tag_content


def _alphanumeric_lower(text: str) -> str:
    return "".join(char for char in text if char.isalnum()).lower()


def _judged(ground_truth: str, answer: str | None, fallback: bool = False) -> RewardResult:
    matched = answer is not None and _alphanumeric_lower(answer) == _alphanumeric_lower(
        ground_truth
    )
    return RewardResult(1.0 if matched else 0.0, matched, answer, fallback)


def exact_answer_alphanumeric_result(
    ground_truth: str, response: str, answer_tag: str = "answer"
) -> RewardResult:
    """1.0 when the ``<answer_tag>`` content equals the ground truth, comparing only
    alphanumeric characters (``str.isalnum``, so any script's letters and digits), lower-cased."""
    return _judged(ground_truth, tag_content(response, answer_tag))


def exact_answer_alphanumeric_with_fallback_result(
    ground_truth: str, response: str, answer_tag: str = "answer"
) -> RewardResult:
    """As :func:`exact_answer_alphanumeric_result`, but a response without the answer tag
    is compared whole."""
    answer = tag_content(response, answer_tag)
    if answer is None:
        return _judged(ground_truth, response, fallback=True)
    return _judged(ground_truth, answer)


def exact_answer_alphanumeric_reward(
    ground_truth: str, response: str, answer_tag: str = "answer"
) -> tuple[float, bool]:
    """NeMo-RL's exact-answer reward: :func:`exact_answer_alphanumeric_result`'s pair."""
    return exact_answer_alphanumeric_result(ground_truth, response, answer_tag).pair


def exact_answer_alphanumeric_with_fallback_reward(
    ground_truth: str, response: str, answer_tag: str = "answer"
) -> tuple[float, bool]:
    """:func:`exact_answer_alphanumeric_with_fallback_result`'s ``(reward, correct)``."""
    return exact_answer_alphanumeric_with_fallback_result(ground_truth, response, answer_tag).pair
