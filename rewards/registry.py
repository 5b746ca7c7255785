"""Reward functions by name: the built-in ones and users' ``"package.module:function"``."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from functools import cache

from rewards.bbox import bbox_giou_result, bbox_giou_reward
from rewards.combine import RewardFunction
from rewards.exact import (
    exact_answer_alphanumeric_result,
    exact_answer_alphanumeric_reward,
    exact_answer_alphanumeric_with_fallback_result,
    exact_answer_alphanumeric_with_fallback_reward,
)
from rewards.format import format_result, format_reward
from rewards.math_answers import (
    Question,
    geo3k_question,
    geo3k_result,
    geo3k_reward,
    math_expression_question,
    math_expression_result,
    math_expression_reward,
)
from rewards.result import RewardResult

ResultFunction = Callable[..., RewardResult]
"""``fn(ground_truth, response, **kwargs) -> RewardResult``: a built-in reward, said fully."""

BUILTIN_REWARDS: dict[str, RewardFunction] = {
    "format": format_reward,
    "exact_alnum": exact_answer_alphanumeric_reward,
    "exact_alnum_with_fallback": exact_answer_alphanumeric_with_fallback_reward,
    "math_expr": math_expression_reward,
    "bbox_giou": bbox_giou_reward,
    "geo3k": geo3k_reward,
}
"""The NeMo-RL-signature function of each built-in name."""
BUILTIN_RESULTS: dict[str, ResultFunction] = {
    "format": format_result,
    "exact_alnum": exact_answer_alphanumeric_result,
    "exact_alnum_with_fallback": exact_answer_alphanumeric_with_fallback_result,
    "math_expr": math_expression_result,
    "bbox_giou": bbox_giou_result,
    "geo3k": geo3k_result,
}
"""The same rewards returning :class:`RewardResult`, which batch scoring calls."""
MATH_VERIFY_QUESTIONS: dict[str, Callable[..., Question | None]] = {
    "math_expr": math_expression_question,
    "geo3k": geo3k_question,
}
"""For the built-in rewards that ask math-verify, what they ask of a sample (same arguments),
so that a batch's questions can be asked ahead."""
IN_PROCESS_REWARDS = frozenset({"format", "exact_alnum", "exact_alnum_with_fallback", "bbox_giou"})
"""The built-in rewards that never ask a scoring child: no math-verify, no user code."""


class UnknownReward(ValueError):
    """A reward name that is neither built in nor an importable ``module:function``."""


def known_names() -> str:
    return ", ".join(sorted(BUILTIN_REWARDS)) + ", or 'package.module:function'"


@cache
def resolve_reward(name: str) -> RewardFunction:
    """The function a config name stands for; raises :class:`UnknownReward` saying why not."""
    if name in BUILTIN_REWARDS:
        return BUILTIN_REWARDS[name]
    module_name, colon, attribute = name.partition(":")
    if not colon or not module_name or not attribute:
        raise UnknownReward(f"unknown reward function {name!r}; known: {known_names()}")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # a user module may fail to import in any way
        raise UnknownReward(
            f"cannot import module {module_name!r} for {name!r}: {type(error).__name__}: {error}"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise UnknownReward(f"module {module_name!r} has no function {attribute!r}")
    return function


def check_arguments(function: RewardFunction, kwargs: dict[str, object]) -> None:
    """Raise ``TypeError`` unless ``function(ground_truth, response, **kwargs)`` binds."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # a builtin or C function without a signature: nothing to check ahead of time
    try:
        signature.bind("ground truth", "response", **kwargs)
    except TypeError as error:
        accepted = list(signature.parameters)[2:]
        raise TypeError(f"{error} (it accepts {accepted or 'no keyword arguments'})") from None


def column_label(name: str) -> str:
    """The short name used in output columns: the name itself, or a user function's name."""
    return name.rpartition(":")[2] if ":" in name else name
