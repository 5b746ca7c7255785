"""rollscore's reward library: pure reward functions, their configuration, batch scoring.

Every name of NeMo-RL's ``nemo_rl.environments.rewards`` is here with the same signature. No
Dask, no torch.

- The rewards, one file per family: :mod:`.format`, :mod:`.exact`, :mod:`.bbox`,
  :mod:`.math_answers` (math-verify and geo3k), and :mod:`.combine` (weighted combinations);
  :mod:`.tags` extracts answers; :mod:`.registry` holds one record per reward name.
- :mod:`.config` reads and checks a configuration (:mod:`.experiment_yaml`: a NeMo-RL
  experiment file's section); :mod:`.user_functions` finds users' own reward functions.
- :mod:`.batch`: :func:`score_batch`, what every front end calls per partition;
  :mod:`.result` is what one reward says of one response, explicitly.
- :mod:`.verifier`: math-verify and users' functions in bounded scoring processes, and the
  versions and accelerations of the verifier stack.
- :mod:`.errors`: the errors a user can meet.
"""

from importlib import import_module

_HOMES = {
    "BatchScores": "rollscore.rewards.batch",
    "score_batch": "rollscore.rewards.batch",
    "bbox_giou_reward": "rollscore.rewards.bbox",
    "combine_reward_functions": "rollscore.rewards.combine",
    "ScoringConfig": "rollscore.rewards.config",
    "load_config": "rollscore.rewards.config",
    "ConfigError": "rollscore.rewards.errors",
    "VerifierUnavailable": "rollscore.rewards.errors",
    "exact_answer_alphanumeric_reward": "rollscore.rewards.exact",
    "exact_answer_alphanumeric_with_fallback_reward": "rollscore.rewards.exact",
    "format_reward": "rollscore.rewards.format",
    "boxed": "rollscore.rewards.math_answers",
    "geo3k_reward": "rollscore.rewards.math_answers",
    "math_expression_reward": "rollscore.rewards.math_answers",
    "math_verify_func": "rollscore.rewards.math_answers",
    "ErrorKind": "rollscore.rewards.result",
    "RewardResult": "rollscore.rewards.result",
    "SampleLimits": "rollscore.rewards.verifier.requests",
}
"""Where each name of the package lives. Names load on first use, so a scoring process, which
imports a few light modules of this package, does not import NumPy and YAML with the rest."""
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'rollscore.rewards' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
