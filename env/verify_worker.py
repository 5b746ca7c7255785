"""Scoring (response, ground truth) pairs in this process, as NeMo-RL's ``VLMVerifyWorker``."""

from __future__ import annotations

from collections.abc import Sequence

from env.mute import _mute_output
from env.types import VLMEnvConfig
from rewards import ScoringConfig, load_config, score_batch


class VLMVerifyWorker:
    """Scores pairs with the configuration's combined reward, one pair at a time, in order."""

    def __init__(self, cfg: VLMEnvConfig | ScoringConfig) -> None:
        self.config = load_config(cfg)

    def verify(self, pred_responses: Sequence[str], ground_truths: Sequence[str]) -> list[float]:
        """The combined reward of each response against its ground truth.

        A pair a reward function raises on (or that is not two strings) scores 0.0 and the
        others are scored as usual; whatever the reward functions print is muted.
        """
        with _mute_output():
            return score_batch(self.config, ground_truths, pred_responses).reward
