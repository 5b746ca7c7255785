"""The think/answer format reward."""

from __future__ import annotations

from rewards.tags import has_tag_pair


def format_reward(
    ground_truth: str,
    response: str,
    think_tag: str = "think",
    answer_tag: str = "answer",
) -> tuple[float, None]:
    """0.25 for a ``<think>...</think>`` pair, 0.75 for an ``<answer>...</answer>`` pair.

    Says nothing about correctness: an answer can be right without the tags.
    """
    reward = 0.0
    if has_tag_pair(response, think_tag):
        reward += 0.25
    if has_tag_pair(response, answer_tag):
        reward += 0.75
    return reward, None
