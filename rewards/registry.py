"""Every reward rollscore knows by name, one record each, and users' ``"package.module:function"``.

A built-in reward is one :class:`Reward` in :data:`REWARDS`: its name, its result function,
the answer it checks with math-verify (if it asks math-verify anything), and where its code
runs. Adding one is a result function in the file of its family and one entry here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from rollscore.rewards.bbox import bbox_giou_result
from rollscore.rewards.errors import UnknownReward
from rollscore.rewards.exact import (
    exact_answer_alphanumeric_result,
    exact_answer_alphanumeric_with_fallback_result,
)
from rollscore.rewards.format import format_result
from rollscore.rewards.math_answers import (
    Question,
    geo3k_answer,
    geo3k_result,
    math_expression_answer,
    math_expression_result,
    question,
)
from rollscore.rewards.result import RewardResult
from rollscore.rewards.user_functions import import_user_function, split_name
from rollscore.rewards.verifier import pool
from rollscore.rewards.verifier.pool import DEFAULT_LIMITS
from rollscore.rewards.verifier.requests import SampleLimits

Scorer = Callable[[str, str], RewardResult]
"""``fn(ground_truth, response) -> RewardResult``: a reward with its arguments bound."""
WORKER = "worker"
SCORING_PROCESS = "scoring process"
LIMITS_ARGUMENT = "limits"
"""The argument a reward that uses the scoring processes takes its time and memory limits by."""


@dataclass(frozen=True)
class Reward:
    """One reward: what a config's ``name`` stands for."""

    name: str
    result: Callable[..., RewardResult]
    """``fn(ground_truth, response, **kwargs) -> RewardResult``; one that uses the scoring
    processes also takes ``limits``."""
    math_answer: Callable[..., str | None] | None = None
    """The answer the result checks with math-verify, from the result's own arguments (the
    result calls this very function), or None for a reward that asks math-verify nothing."""
    runs_in: str = WORKER
    """Where the reward's own code runs: in the worker's scoring thread, or in a scoring
    process (users' functions, bounded in time and memory there)."""

    @property
    def uses_scoring_processes(self) -> bool:
        """Whether scoring with it needs the scoring processes: math-verify or a user's code."""
        return self.runs_in == SCORING_PROCESS or self.math_answer is not None

    def scorer(self, kwargs: Mapping[str, object], limits: SampleLimits) -> Scorer:
        """The reward with ``kwargs`` bound, and ``limits`` when it uses the scoring processes."""
        bound = dict(kwargs)
        if self.uses_scoring_processes:
            bound[LIMITS_ARGUMENT] = limits
        return partial(self.result, **bound)

    def question_of(self, kwargs: Mapping[str, object]) -> Callable[[str, str], Question | None]:
        """``fn(ground_truth, response)``: what the reward will ask math-verify of a sample, or
        None if it asks nothing."""
        answer_of = partial(self.math_answer, **dict(kwargs)) if self.math_answer else None

        def asked(ground_truth: str, response: str) -> Question | None:
            answer = None if answer_of is None else answer_of(ground_truth, response)
            return None if answer is None else question(ground_truth, answer)

        return asked


REWARDS: dict[str, Reward] = {
    reward.name: reward
    for reward in (
        Reward("format", format_result),
        Reward("exact_alnum", exact_answer_alphanumeric_result),
        Reward("exact_alnum_with_fallback", exact_answer_alphanumeric_with_fallback_result),
        Reward("math_expr", math_expression_result, math_expression_answer),
        Reward("bbox_giou", bbox_giou_result),
        Reward("geo3k", geo3k_result, geo3k_answer),
    )
}
"""The built-in rewards by config name."""


def _user_result(
    name: str,
    ground_truth: str,
    response: str,
    *,
    limits: SampleLimits = DEFAULT_LIMITS,
    **kwargs: object,
) -> RewardResult:
    """A user's function ``name`` called on one sample in a scoring process."""
    return pool.scoring_processes.call(name, tuple(kwargs.items()), ground_truth, response, limits)


def known_names() -> str:
    return ", ".join(sorted(REWARDS)) + ", or 'package.module:function'"


def reward_named(name: str) -> Reward:
    """The reward a config name stands for: a built-in one, or a user's function (imported in
    the scoring process that runs it, not here); raises :class:`UnknownReward`."""
    if name in REWARDS:
        return REWARDS[name]
    try:
        split_name(name)
    except UnknownReward:
        raise UnknownReward(f"unknown reward function {name!r}; known: {known_names()}") from None
    return Reward(name, partial(_user_result, name), runs_in=SCORING_PROCESS)


def check_reward(name: str, kwargs: Mapping[str, object]) -> None:
    """Raise :class:`UnknownReward` unless ``name`` is a reward (a user's function is imported
    here to see that it exists), and ``TypeError`` unless it accepts ``kwargs``."""
    reward = reward_named(name)
    function = reward.result if name in REWARDS else import_user_function(name)
    if reward.uses_scoring_processes and LIMITS_ARGUMENT in kwargs:
        raise TypeError(
            f"'{LIMITS_ARGUMENT}' is not a keyword argument of a config (sample_timeout and "
            "sample_memory_mb set the limits)"
        )
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # a builtin or C function without a signature: nothing to check ahead of time
    try:
        signature.bind("ground truth", "response", **kwargs)
    except TypeError as error:
        accepted = [
            parameter
            for parameter in list(signature.parameters)[2:]
            if parameter != LIMITS_ARGUMENT or name not in REWARDS
        ]
        raise TypeError(f"{error} (it accepts {accepted or 'no keyword arguments'})") from None


def column_label(name: str) -> str:
    """The short name used in output columns: the name itself, or a user function's name."""
    return name.rpartition(":")[2] if ":" in name else name
