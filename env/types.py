"""The adapter's types, named and shaped as NeMo-RL's: its config, a sample's metadata, and
what one environment step returns."""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict

import torch


class _VLMEnvConfigExtras(TypedDict, total=False):
    """Settings beyond NeMo-RL's, read by :func:`rollscore.rewards.load_config` like the others."""

    sample_timeout: float
    by_data_source: dict[str, Any]


class VLMEnvConfig(_VLMEnvConfigExtras):
    """The environment's configuration: parallel scoring slots, stop strings, weighted rewards."""

    num_workers: int
    stop_strings: list[str] | None
    reward_functions: list[dict[str, Any]]


class _VLMEnvironmentMetadataExtras(TypedDict, total=False):
    """Optional per-sample fields beyond NeMo-RL's."""

    data_source: str
    """Selects the config's ``by_data_source`` rewards for the sample."""


class VLMEnvironmentMetadata(_VLMEnvironmentMetadataExtras):
    """What the environment knows about one sample: the answer it is graded against."""

    ground_truth: str


class EnvironmentReturn(NamedTuple):
    """One step's results, field for field (names and order) as NeMo-RL's ``EnvironmentReturn``."""

    observations: list[dict[str, str]]
    metadata: list[Any]
    next_stop_strings: list[list[str] | None]
    rewards: torch.Tensor
    terminateds: torch.Tensor
    answers: list[str | None] | None
