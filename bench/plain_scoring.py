"""The scoring a user writes without rollscore: format 0.2 + math 0.8, calling math-verify
directly in the main thread, row after row, with no memoisation of its own."""

from __future__ import annotations

import logging
import re

from math_verify import ExprExtractionConfig, LatexExtractionConfig, math_metric

THINK = re.compile(r"<think>[\s\S]*</think>")
ANSWER = re.compile(r"<answer>([\s\S]*)</answer>")
METRIC = math_metric(
    gold_extraction_target=(LatexExtractionConfig(),),
    pred_extraction_target=(ExprExtractionConfig(), LatexExtractionConfig()),
)
CONFIG = {
    "reward_functions": [{"name": "format", "weight": 0.2}, {"name": "math_expr", "weight": 0.8}]
}
"""The same rewards as a rollscore config."""

logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # a warning per unparsed answer


def boxed(text: str) -> str:
    return text if text.startswith("\\boxed{") else "\\boxed{" + text + "}"


def plain_format_reward(response: str) -> float:
    """0.25 for a think block, plus 0.75 for an answer block."""
    return (0.25 if THINK.search(response) else 0.0) + (0.75 if ANSWER.search(response) else 0.0)


def plain_reward(pair: tuple[str, str]) -> float:
    """The combined reward of one (ground truth, response) pair."""
    ground_truth, response = pair
    answer = ANSWER.search(response)
    format_score = plain_format_reward(response)
    accuracy = 0.0
    if answer is not None:
        try:
            score, _ = METRIC([boxed(ground_truth)], [boxed(answer.group(1))])
            accuracy = 1.0 if score > 0.1 else 0.0
        except Exception:
            accuracy = 0.0
    return 0.2 * format_score + 0.8 * accuracy


def plain_rewards(pairs: list[tuple[str, str]]) -> list[float]:
    """The serial loop."""
    return [plain_reward(pair) for pair in pairs]
