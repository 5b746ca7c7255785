"""Math rewards: the answer checked against the ground truth with math-verify."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rewards.math_verifier import verifier
from rewards.notes import note_answer
from rewards.tags import BOXED_TOKEN, last_boxed_content, tag_content


def boxed(text: str) -> str:
    """``\\boxed{text}``, unless ``text`` already starts with ``\\boxed{``."""
    return text if text.startswith(BOXED_TOKEN) else BOXED_TOKEN + text + "}"


def math_verify_func(golds: Sequence[str], predictions: Sequence[str]) -> tuple[float, None]:
    """math-verify's metric (gold: LaTeX extraction; prediction: expression, then LaTeX).

    Returns ``(score, None)`` like math-verify's ``math_metric`` when it skips the string
    forms, which it does here always: printing a huge number can run for minutes. Safe in
    any thread and bounded in time (see :mod:`rewards.math_verifier`).
    """
    return verifier.verify(golds, predictions), None


CORRECT_ABOVE = 0.1
"""NeMo-RL's threshold on math-verify's score (0.0 or 1.0): above it, the answer is right."""


def _is_equivalent(ground_truth: str, answer: str) -> bool:
    score, _ = math_verify_func([boxed(ground_truth)], [boxed(answer)])
    return score > CORRECT_ABOVE


def math_expression_reward(
    ground_truth: str, response: str, tag: str = "answer"
) -> tuple[float, bool]:
    """1.0 when the ``<tag>`` content is the same expression as the ground truth, else 0.0."""
    answer = tag_content(response, tag)
    note_answer(answer)
    if answer is None:
        return 0.0, False
    correct = _is_equivalent(ground_truth, answer)
    return (1.0 if correct else 0.0), correct


_GEO3K_FORMAT = re.compile(r"</think>.*\\boxed\{.*\}", re.DOTALL)


def geo3k_reward(ground_truth: str, response: str, format_score: float = 0.1) -> tuple[float, bool]:
    """The last ``\\boxed{}`` answer graded by math-verify, plus a ``</think> ... \\boxed{}``
    format bonus: ``(1 - format_score) * accuracy + format_score * format``."""
    has_format = 1.0 if _GEO3K_FORMAT.search(response) else 0.0
    answer = last_boxed_content(response)
    note_answer(answer)
    correct = answer is not None and _is_equivalent(ground_truth, answer)
    accuracy = 1.0 if correct else 0.0
    return (1.0 - format_score) * accuracy + format_score * has_format, correct
