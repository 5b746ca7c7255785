"""What a reward found for one response, said explicitly: the reward, the correctness flag, the
answer it extracted, and the problem that kept it from a verdict.

Built-in rewards return a :class:`RewardResult`; their NeMo-RL-signature functions are thin
wrappers returning ``result.pair``. A user's function returns the pair, checked here.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import Enum
from numbers import Real


class ErrorKind(str, Enum):
    """Why a row's score is not a verdict; the ``error_kind`` column holds the value."""

    BAD_INPUT = "bad_input"
    """A missing or non-string ground truth or response, a malformed message log."""
    UNREADABLE_ROW = "unreadable_row"
    """A line of input that does not parse as a JSON object, or text that cannot be encoded."""
    TIMEOUT = "timeout"
    """A reward ran past ``sample_timeout`` (twice: it is tried once more on a fresh process)."""
    REWARD_EXCEPTION = "reward_exception"
    """A reward function raised."""
    REWARD_CRASHED = "reward_crashed"
    """The process running a reward function died (twice), or it ran out of memory."""
    BAD_REWARD = "bad_reward"
    """A reward function returned NaN, inf, a non-number or a value of the wrong shape."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a reward gave no verdict for a row, and what to tell the user."""

    kind: ErrorKind
    message: str


@dataclass(slots=True)
class RewardResult:
    """One reward's outcome for one response."""

    reward: float
    correct: bool | None
    answer: str | None = None
    """The answer the reward extracted and judged, if any."""
    fallback: bool = False
    """The answer is the whole response, judged for want of a tagged one."""
    problem: Problem | None = None
    verify_seconds: float | None = None
    """The seconds math-verify took on the reward's question, when it had to be asked (None
    when it was remembered, or when the reward asks math-verify nothing)."""

    @property
    def pair(self) -> tuple[float, bool | None]:
        """``(reward, correct)``, what the NeMo-RL-signature functions return."""
        return self.reward, self.correct


class BadReward(ValueError):
    """A reward function's return value that is not ``(finite number, bool or None)``."""


def checked_pair(value: object) -> tuple[float, bool | None]:
    """A reward function's return value as ``(reward, correct)``; raises :class:`BadReward`
    saying why it is not a finite number and a bool or None."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise BadReward(f"returned {_shown(value)}, not a (reward, correct) pair")
    reward, correct = value
    if _is_bool(reward) or not isinstance(reward, Real):
        raise BadReward(f"returned reward {_shown(reward)}, not a number")
    if not math.isfinite(reward):
        raise BadReward(f"returned reward {reward!r}, not a finite number")
    if correct is not None and not _is_bool(correct):
        raise BadReward(f"returned correct {_shown(correct)}, not True, False or None")
    return float(reward), None if correct is None else bool(correct)


def _is_bool(value: object) -> bool:
    """A Python or NumPy boolean. A NumPy value means NumPy is loaded already, so a scoring
    process that never meets one never imports it."""
    numpy = sys.modules.get("numpy")
    return isinstance(value, bool) or (numpy is not None and isinstance(value, numpy.bool_))


def _shown(value: object) -> str:
    """A value's repr, short enough for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
