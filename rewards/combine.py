"""Weighted combination of reward functions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

RewardFunction = Callable[..., tuple[float, "bool | None"]]
"""``fn(ground_truth, response, **kwargs) -> (reward, correct or None)``."""


def normalised_weights(
    weights: Sequence[object], names: Sequence[str] | None = None
) -> list[float]:
    """Weights scaled to sum to 1, after checking each is a finite number >= 0 and their sum > 0.

    Raises ``ValueError`` naming the offending entry, so a combined reward is never NaN.
    """
    labels = names or [f"reward function #{index}" for index in range(len(weights))]
    if not weights:
        raise ValueError("no reward functions given: at least one is needed")
    for label, weight in zip(labels, weights):
        if isinstance(weight, bool) or not isinstance(weight, Real):
            raise ValueError(f"{label}: weight {weight!r} is not a number")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"{label}: weight {weight!r} must be finite and >= 0")
    try:
        total = math.fsum(weights)
    except OverflowError:
        raise ValueError(
            f"weights {list(weights)} of {', '.join(labels)} are too large to add up"
        ) from None
    if total <= 0:
        raise ValueError(
            f"weights {list(weights)} of {', '.join(labels)} sum to 0: one must be positive"
        )
    return [float(weight) / total for weight in weights]


def combine_scores(
    scores: Sequence[tuple[float, bool | None]], weights: Sequence[float]
) -> tuple[float, bool]:
    """The weighted sum of the rewards, and whether every correctness flag that is not None
    is True (so True when all are None)."""
    reward = 0.0
    for (value, _), weight in zip(scores, weights):
        reward += value * weight
    correct = all(flag for _, flag in scores if flag is not None)
    return float(reward), correct


def combine_reward_functions(
    reward_functions: Sequence[tuple[RewardFunction, float]],
) -> Callable[[str, str], tuple[float, bool]]:
    """One ``fn(ground_truth, response)`` scoring with every function, weights renormalised
    to sum 1. Bad weights raise ``ValueError`` here, not NaN rewards later."""
    functions = [function for function, _ in reward_functions]
    weights = normalised_weights([weight for _, weight in reward_functions])

    def combined_reward(ground_truth: str, response: str) -> tuple[float, bool]:
        return combine_scores([fn(ground_truth, response) for fn in functions], weights)

    return combined_reward
