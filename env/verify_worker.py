"""Scoring (response, ground truth) pairs, as NeMo-RL's ``VLMVerifyWorker``."""

from __future__ import annotations

from collections.abc import Sequence

from rollscore.env.types import VLMEnvConfig
from rollscore.rewards import ScoringConfig, load_config, score_batch


class VLMVerifyWorker:
    """Scores pairs with the configuration's combined reward, in order."""

    def __init__(self, cfg: VLMEnvConfig | ScoringConfig) -> None:
        self.config = load_config(cfg)

    def verify(self, pred_responses: Sequence[str], ground_truths: Sequence[str]) -> list[float]:
        """The combined reward of each response against its ground truth.

        A pair a reward function raises on (or that is not two strings) scores 0.0 and the
        others are scored as usual. What math-verify and users' functions print never reaches
        this process: they run in scoring processes, whose output goes to the null device (so
        this process's own streams, which its other threads may be writing, are left alone).
        """
        return score_batch(self.config, ground_truths, pred_responses).reward
