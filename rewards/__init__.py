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
  is parsed there in two stages (:mod:`rewards.two_stage_parsing`), and sympy's parser reuses
  its namespace (:mod:`rewards.sympy_namespace`).
- :mod:`rewards.errors`: the errors a user can meet.
"""

from importlib import import_module

_HOMES = {
    "BatchScores": "rewards.batch",
    "score_batch": "rewards.batch",
    "bbox_giou_reward": "rewards.bbox",
    "combine_reward_functions": "rewards.combine",
    "ScoringConfig": "rewards.config",
    "load_config": "rewards.config",
    "ConfigError": "rewards.errors",
    "VerifierUnavailable": "rewards.errors",
    "exact_answer_alphanumeric_reward": "rewards.exact",
    "exact_answer_alphanumeric_with_fallback_reward": "rewards.exact",
    "format_reward": "rewards.format",
    "boxed": "rewards.math_answers",
    "geo3k_reward": "rewards.math_answers",
    "math_expression_reward": "rewards.math_answers",
    "math_verify_func": "rewards.math_answers",
    "ErrorKind": "rewards.result",
    "RewardResult": "rewards.result",
    "sample_time_limit": "rewards.scoring_children",
}
"""Where each name of the package lives. Names load on first use, so a scoring process, which
imports a few light modules of this package, does not import NumPy and YAML with the rest."""
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'rewards' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
