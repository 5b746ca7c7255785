"""rollscore's training adapters, scoring on Dask: NeMo-RL's ``vlm_environment`` interface,
and reward functions for TRL and verl.

The only package of the project that imports torch (the ``train`` extra).

- :mod:`env.environment`: ``VLMEnvironment``, a training batch scored on the cluster per step,
  at once or in the background (``step_async``, ``astep``).
- :mod:`env.session`: the cluster every adapter scores on; :mod:`env.step_input` builds a
  batch's frame, :mod:`env.step_scorers` sends its partitions to the workers' scorers, or
  :mod:`env.scoring` as tasks of a Dask dataframe.
- :mod:`env.trl`: ``TRLReward``, a reward function for TRL's ``GRPOTrainer``;
  :mod:`env.verl`: ``VerlReward``, verl's custom reward function (per sample and batch forms).
- :mod:`env.metrics`: ``global_post_process_and_metrics``.
- :mod:`env.verify_worker`, :mod:`env.mute`: ``VLMVerifyWorker`` and ``_mute_output``.
- :mod:`env.types`: the config, metadata and ``EnvironmentReturn`` types; :mod:`env.errors`.
"""

from env.environment import VLMEnvironment
from env.errors import EnvironmentClosed
from env.metrics import global_post_process_and_metrics
from env.mute import _mute_output
from env.trl import TRLReward
from env.types import EnvironmentReturn, VLMEnvConfig, VLMEnvironmentMetadata
from env.verify_worker import VLMVerifyWorker
from env.verl import VerlReward

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
