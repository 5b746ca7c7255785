"""Exact-answer rewards: the answer equals the ground truth up to case and punctuation."""

from __future__ import annotations

from rewards.notes import note_answer
from rewards.tags import tag_content


def _alphanumeric_lower(text: str) -> str:
    return "".join(char for char in text if char.isalnum()).lower()


def _matches(ground_truth: str, answer: str | None) -> tuple[float, bool]:
    note_answer(answer)
    if answer is not None and _alphanumeric_lower(answer) == _alphanumeric_lower(ground_truth):
        return 1.0, True
    return 0.0, False


def exact_answer_alphanumeric_reward(
    ground_truth: str, response: str, answer_tag: str = "answer"
) -> tuple[float, bool]:
    """1.0 when the ``<answer_tag>`` content equals the ground truth, comparing only
    alphanumeric characters (``str.isalnum``, so any script's letters and digits), lower-cased."""
    return _matches(ground_truth, tag_content(response, answer_tag))


def exact_answer_alphanumeric_with_fallback_reward(
    ground_truth: str, response: str, answer_tag: str = "answer"
) -> tuple[float, bool]:
    """As :func:`exact_answer_alphanumeric_reward`, but a response without the answer tag
    is compared whole."""
    answer = tag_content(response, answer_tag)
    return _matches(ground_truth, response if answer is None else answer)
