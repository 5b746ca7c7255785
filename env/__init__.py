"""rollscore's training adapter: NeMo-RL's ``vlm_environment`` interface, scoring on Dask.

The only package of the project that imports torch (the ``train`` extra).

- :mod:`env.environment`: ``VLMEnvironment``, a training batch scored on the cluster per step
  (:mod:`env.step_input` builds the step's frame, :mod:`env.scoring` sends it to the workers).
- :mod:`env.metrics`: ``global_post_process_and_metrics``.
- :mod:`env.verify_worker`, :mod:`env.mute`: ``VLMVerifyWorker`` and ``_mute_output``.
- :mod:`env.types`: the config, metadata and ``EnvironmentReturn`` types.
"""

from env.environment import VLMEnvironment
from env.metrics import global_post_process_and_metrics
from env.mute import _mute_output
from env.types import EnvironmentReturn, VLMEnvConfig, VLMEnvironmentMetadata
from env.verify_worker import VLMVerifyWorker

__all__ = [
    "EnvironmentReturn",
    "VLMEnvConfig",
    "VLMEnvironment",
    "VLMEnvironmentMetadata",
    "VLMVerifyWorker",
    "_mute_output",
    "global_post_process_and_metrics",
]
