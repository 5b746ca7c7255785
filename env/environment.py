"""NeMo-RL's ``VLMEnvironment`` on Dask: a training batch becomes a Dask dataframe scored by the
offline pipeline's partition kernel on a ``distributed`` cluster, and comes back as tensors."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import torch
from distributed import Client

from env.metrics import Metrics, global_post_process_and_metrics
from env.scoring import STEP_COLUMNS, score_frame
from env.step_input import step_frame
from env.types import EnvironmentReturn, VLMEnvConfig
from pipeline.cluster import local_cluster, worker_count
from pipeline.partition import scored_meta
from rewards import ScoringConfig, load_config
from rewards.math_answers import math_verify_func

WARM_UP_ANSWER = "\\boxed{1}"
"""Scored against itself by each worker at construction, to start its math-verify process."""


class VLMEnvironment:
    """Scores training batches on a Dask cluster: the one behind ``client``, or else a
    ``LocalCluster`` it starts (``num_workers`` single-threaded worker processes on 127.0.0.1,
    one per core by default) and owns.

    ``num_workers`` is also the number of partitions of a step; with a client given and no
    ``num_workers`` configured, it is the cluster's thread count. A bad configuration raises
    :class:`rewards.ConfigError` before any cluster starts.
    """

    def __init__(self, cfg: VLMEnvConfig | ScoringConfig, client: Client | None = None) -> None:
        self.config = load_config(cfg)
        self._owned = ExitStack()
        self._closed = False
        self._metas: dict[tuple[str, ...], pd.DataFrame] = {}
        try:
            if client is None:
                cluster = self._owned.enter_context(local_cluster(self.config.num_workers))
                client = self._owned.enter_context(Client(cluster))
            self.client = client
            self.num_workers = self.config.num_workers or worker_count(client)
            # Start every worker's math-verify process now, and check that it scores, so the
            # first step does not pay its start-up.
            client.run(math_verify_func, [WARM_UP_ANSWER], [WARM_UP_ANSWER])
        except BaseException:
            self._owned.close()
            raise

    def step(
        self,
        message_log_batch: Sequence[Sequence[Mapping[str, Any]]],
        metadata: Sequence[Mapping[str, Any]],
        return_extracted_answer: bool = False,
    ) -> EnvironmentReturn:
        """Score each conversation's assistant messages against its metadata's ground truth.

        A bad sample (no assistant message, a content that is not a string, no ground truth,
        a reward function that raises) scores 0.0 and is "incorrect"; the others are scored
        as usual. The observation says "correct" from the rewards' correctness flag, never
        from a non-zero reward.
        """
        if self._closed:
            raise RuntimeError("this environment has been shut down")
        frame = step_frame(message_log_batch, metadata)
        scores = self._score(frame)
        rewards = torch.from_numpy(scores["reward"].to_numpy(dtype=np.float32, na_value=0.0))
        correct = scores["correct"].to_numpy(dtype=bool, na_value=False)
        stop_strings = self.config.stop_strings
        answers = None
        if return_extracted_answer:
            answers = [a if isinstance(a, str) else None for a in scores["extracted_answer"]]
        return EnvironmentReturn(
            observations=[_observation(flag) for flag in correct],
            metadata=metadata,
            next_stop_strings=[
                None if stop_strings is None else list(stop_strings) for _ in range(len(frame))
            ],
            rewards=rewards,
            terminateds=torch.ones_like(rewards),
            answers=answers,
        )

    def _score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame's step columns, in row order; an empty frame never reaches the cluster."""
        meta = self._scored_meta(frame)
        if frame.empty:
            return meta[STEP_COLUMNS]
        return score_frame(self.client, frame, self.config, self.num_workers, meta)

    def _scored_meta(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The kernel's exact output meta for the frame's columns, computed once per column set."""
        columns = tuple(frame.columns)
        if columns not in self._metas:
            self._metas[columns] = scored_meta(frame.iloc[:0], self.config)
        return self._metas[columns]

    def global_post_process_and_metrics(
        self, batch: MutableMapping[str, Any]
    ) -> tuple[MutableMapping[str, Any], Metrics]:
        """Mask rewards by ``is_end`` in ``batch``, compute its metrics (:mod:`env.metrics`)."""
        return global_post_process_and_metrics(batch)

    def shutdown(self) -> None:
        """Close the client and cluster this environment started, if it started them; a client
        passed in stays open and usable. Calling it again does nothing."""
        self._closed = True
        self._owned.close()

    def __enter__(self) -> VLMEnvironment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def _observation(correct: bool) -> dict[str, str]:
    """The environment's reply to one sample, NeMo-RL's wording."""
    verdict = "correct" if correct else "incorrect"
    return {"role": "environment", "content": f"Environment: {verdict}"}
