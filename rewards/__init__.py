"""rollscore's reward library: pure reward functions, their configuration, batch scoring.

Every name of NeMo-RL's ``nemo_rl.environments.rewards`` is here with the same signature. No
Dask, no torch.

- The rewards, one file per family: :mod:`rewards.format`, :mod:`rewards.exact`,
  :mod:`rewards.bbox`, :mod:`rewards.math_answers` (math-verify and geo3k), and
  :mod:`rewards.combine` (weighted combinations); :mod:`rewards.tags` extracts answers.
- :mod:`rewards.config` reads and checks a configuration; :mod:`rewards.registry` maps names
  to functions.
- :mod:`rewards.batch`: :func:`score_batch`, what the pipeline and the adapter call per
  partition; :mod:`rewards.result` is what one reward says of one response, explicitly.
- :mod:`rewards.scoring_children` runs math-verify and users' functions in child processes
  (:mod:`rewards.scoring_child`), right in any thread and bounded in time and memory; LaTeX
  is parsed there in two stages (:mod:`rewards.two_stage_parsing`).
- :mod:`rewards.errors`: the errors a user can meet.
"""

from rewards.batch import BatchScores, score_batch
from rewards.bbox import bbox_giou_reward
from rewards.combine import combine_reward_functions
from rewards.config import ScoringConfig, load_config
from rewards.errors import ConfigError, VerifierUnavailable
from rewards.exact import (
    exact_answer_alphanumeric_reward,
    exact_answer_alphanumeric_with_fallback_reward,
)
from rewards.format import format_reward
from rewards.math_answers import boxed, geo3k_reward, math_expression_reward, math_verify_func
from rewards.result import ErrorKind, RewardResult
from rewards.scoring_children import sample_time_limit

__all__ = [
    "BatchScores",
    "ConfigError",
    "ErrorKind",
    "RewardResult",
    "ScoringConfig",
    "VerifierUnavailable",
    "bbox_giou_reward",
    "boxed",
    "combine_reward_functions",
    "exact_answer_alphanumeric_reward",
    "exact_answer_alphanumeric_with_fallback_reward",
    "format_reward",
    "geo3k_reward",
    "load_config",
    "math_expression_reward",
    "math_verify_func",
    "sample_time_limit",
    "score_batch",
]
