"""rollscore's training adapters, scoring on Dask: NeMo-RL's ``vlm_environment`` interface,
reward functions for TRL and verl, and ``rollscore serve``.

Names load on first use, so a part that needs no torch (the TRL and verl rewards, the service
in :mod:`.serve`) never imports it; only NeMo-RL's environment and its types need torch (the
``train`` extra).

- :mod:`.environment`: ``VLMEnvironment``, a training batch scored on the cluster per step,
  at once or in the background (``step_async``, ``astep``).
- :mod:`.session`: the cluster every adapter scores on, and a batch scored there
  as a Dask dataframe mapped with the partition kernel; :mod:`.step_input` builds
  a batch's frame.
- :mod:`.trl`: ``TRLReward``, a reward function for TRL's ``GRPOTrainer``;
  :mod:`.verl`: ``VerlReward``, verl's custom reward function (per sample and batch forms).
- :mod:`.serve`: ``rollscore serve``, the verification service for trainers that call
  rewards over HTTP.
- :mod:`.metrics`: ``global_post_process_and_metrics``.
- :mod:`.verify_worker`, :mod:`.mute`: ``VLMVerifyWorker`` and ``_mute_output``.
- :mod:`.types`: the config, metadata and ``EnvironmentReturn`` types; :mod:`.errors`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rollscore.env.environment import VLMEnvironment
    from rollscore.env.errors import EnvironmentClosed
    from rollscore.env.metrics import global_post_process_and_metrics
    from rollscore.env.mute import _mute_output
    from rollscore.env.trl import TRLReward
    from rollscore.env.types import EnvironmentReturn, VLMEnvConfig, VLMEnvironmentMetadata
    from rollscore.env.verify_worker import VLMVerifyWorker
    from rollscore.env.verl import VerlReward

_HOMES = {
    "EnvironmentClosed": "errors",
    "EnvironmentReturn": "types",
    "TRLReward": "trl",
    "VLMEnvConfig": "types",
    "VLMEnvironment": "environment",
    "VLMEnvironmentMetadata": "types",
    "VLMVerifyWorker": "verify_worker",
    "VerlReward": "verl",
    "_mute_output": "mute",
    "global_post_process_and_metrics": "metrics",
}
"""The module of each public name."""

__all__ = [
    "EnvironmentClosed",
    "EnvironmentReturn",
    "TRLReward",
    "VLMEnvConfig",
    "VLMEnvironment",
    "VLMEnvironmentMetadata",
    "VLMVerifyWorker",
    "VerlReward",
    "_mute_output",
    "global_post_process_and_metrics",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
