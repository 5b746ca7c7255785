"""rollscore's training adapters, scoring on Dask: NeMo-RL's ``vlm_environment`` interface,
and reward functions for TRL and verl.

The only package of the project that imports torch (the ``train`` extra).

- :mod:`.environment`: ``VLMEnvironment``, a training batch scored on the cluster per step,
  at once or in the background (``step_async``, ``astep``).
- :mod:`.session`: the cluster every adapter scores on, and a batch scored there
  as a Dask dataframe mapped with the partition kernel; :mod:`.step_input` builds
  a batch's frame.
- :mod:`.trl`: ``TRLReward``, a reward function for TRL's ``GRPOTrainer``;
  :mod:`.verl`: ``VerlReward``, verl's custom reward function (per sample and batch forms).
- :mod:`.metrics`: ``global_post_process_and_metrics``.
- :mod:`.verify_worker`, :mod:`.mute`: ``VLMVerifyWorker`` and ``_mute_output``.
- :mod:`.types`: the config, metadata and ``EnvironmentReturn`` types; :mod:`.errors`.
"""

from rollscore.env.environment import VLMEnvironment
from rollscore.env.errors import EnvironmentClosed
from rollscore.env.metrics import global_post_process_and_metrics
from rollscore.env.mute import _mute_output
from rollscore.env.trl import TRLReward
from rollscore.env.types import EnvironmentReturn, VLMEnvConfig, VLMEnvironmentMetadata
from rollscore.env.verify_worker import VLMVerifyWorker
from rollscore.env.verl import VerlReward

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
