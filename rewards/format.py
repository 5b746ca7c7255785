"""The think/answer format reward."""

from __future__ import annotations

from rollscore.rewards.result import RewardResult
from rollscore.rewards.tags import has_tag_pair

THINK_CREDIT = 0.25
ANSWER_CREDIT = 0.75


def format_result(
    ground_truth: str, response: str, think_tag: str = "think", answer_tag: str = "answer"
) -> RewardResult:
    """0.25 for a ``<think>...</think>`` pair, 0.75 for an ``<answer>...</answer>`` pair.

    Says nothing about correctness: an answer can be right without the tags.
    """
    reward = 0.0
    if has_tag_pair(response, think_tag):
        reward += THINK_CREDIT
    if has_tag_pair(response, answer_tag):
        reward += ANSWER_CREDIT
    return RewardResult(reward, None)


def format_reward(
    ground_truth: str,
    response: str,
    think_tag: str = "think",
    answer_tag: str = "answer",
) -> tuple[float, None]:
    """NeMo-RL's format reward: :func:`format_result`'s ``(reward, None)``."""
    return format_result(ground_truth, response, think_tag, answer_tag).pair
