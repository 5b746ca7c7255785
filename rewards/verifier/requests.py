"""What a scoring process is asked, within which limits, and how it replies: the protocol
between :mod:`.pool` and :mod:`.scoring_process`."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TIME_LIMIT = 5.0
"""Seconds one reward call (math-verify, or a user's function) may take on one sample."""
MAX_TIME_LIMIT = 3600.0
"""The largest time limit a configuration may set: an hour per sample is already no limit."""
DEFAULT_MEMORY_MB = 4096
"""Megabytes of address space a scoring process may use while it scores one sample."""


@dataclass(frozen=True, slots=True)
class SampleLimits:
    """How long, and in how much memory, one reward call may run on one sample."""

    seconds: float = DEFAULT_TIME_LIMIT
    memory_mb: int = DEFAULT_MEMORY_MB


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """math-verify's score of the predictions against the golds: 1.0 if any matches, else 0.0."""

    golds: tuple[str, ...]
    predictions: tuple[str, ...]
    limits: SampleLimits


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A user's ``"package.module:function"`` called on one sample, imported with the caller's
    module search path (:func:`rollscore.rewards.registry.user_module_path`)."""

    name: str
    kwargs: tuple[tuple[str, object], ...]
    ground_truth: str
    response: str
    limits: SampleLimits
    sys_path: tuple[str, ...]


Reply = tuple[str, object]
"""``("ok", score or (reward, correct))``, or a failure status and its message: ``"timeout"``,
``"exception"``, ``"bad_reward"``, ``"out_of_memory"``; the parent adds ``"crashed"``."""
