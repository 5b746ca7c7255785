"""rollscore's training adapter: NeMo-RL's ``vlm_environment`` interface, scoring on Dask.

The only package of the project that imports torch.
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
