"""NeMo-RL's ``VLMEnvironment`` on Dask: a training batch is cut into partitions scored by the
offline pipeline's partition kernel on a ``distributed`` cluster, as the tasks of a Dask
dataframe (:class:`rollscore.env.session.ScoringSession`), and comes back as tensors.

``step_async`` (and ``astep`` for asyncio) lets a trainer score batch k while it generates
batch k+1: several steps may be in flight, each returning in its own input order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import torch
from distributed import Client
from rollscore.env.errors import EnvironmentClosed
from rollscore.env.metrics import Metrics, global_post_process_and_metrics
from rollscore.env.session import ScoringSession
from rollscore.env.step_input import step_frame
from rollscore.env.types import EnvironmentReturn, VLMEnvConfig
from rollscore.rewards import ScoringConfig

STEPS_IN_FLIGHT = 4
"""Steps that may be scored at once; more wait for one of them to finish."""


class VLMEnvironment:
    """Scores training batches on a Dask cluster: the one behind ``client``, or else a
    ``LocalCluster`` it starts (``num_workers`` single-threaded worker processes on 127.0.0.1,
    one per core by default) and owns (see :class:`rollscore.env.session.ScoringSession`).

    ``num_workers`` is also the number of partitions of a step; with a client given and no
    ``num_workers`` configured, it is the cluster's thread count. A bad configuration raises
    :class:`rollscore.rewards.ConfigError` before any cluster starts.
    """

    def __init__(self, cfg: VLMEnvConfig | ScoringConfig, client: Client | None = None) -> None:
        self._session = ScoringSession(cfg, client, name=type(self).__name__)
        self.config = self._session.config
        self.client = self._session.client
        self.num_workers = self._session.partitions
        self._steps = ThreadPoolExecutor(STEPS_IN_FLIGHT, thread_name_prefix="rollscore-step")
        self._closed = False

    def step(
        self,
        message_log_batch: Sequence[Sequence[Mapping[str, Any]]],
        metadata: Sequence[Mapping[str, Any]],
        return_extracted_answer: bool = False,
    ) -> EnvironmentReturn:
        """Score each conversation's assistant messages against its metadata's ground truth.

        A bad sample (no assistant message, a content that is neither a string nor a list of
        parts, no ground truth, a reward function that raises) scores 0.0 and is "incorrect";
        the others are scored as usual. The observation says "correct" from the rewards'
        correctness flag, never from a non-zero reward.
        """
        if self._closed:
            raise EnvironmentClosed("this environment has been shut down")
        scores = self._session.score(step_frame(message_log_batch, metadata))
        return self._environment_return(scores, metadata, return_extracted_answer)

    def step_async(
        self,
        message_log_batch: Sequence[Sequence[Mapping[str, Any]]],
        metadata: Sequence[Mapping[str, Any]],
        return_extracted_answer: bool = False,
    ) -> Future[EnvironmentReturn]:
        """:meth:`step`, scored while the caller goes on: a future of its ``EnvironmentReturn``.

        The batch is read before this returns, so the caller may reuse its lists at once.
        """
        if self._closed:
            raise EnvironmentClosed("this environment has been shut down")
        frame = step_frame(message_log_batch, metadata)
        return self._steps.submit(
            lambda: self._environment_return(
                self._session.score(frame), metadata, return_extracted_answer
            )
        )

    async def astep(
        self,
        message_log_batch: Sequence[Sequence[Mapping[str, Any]]],
        metadata: Sequence[Mapping[str, Any]],
        return_extracted_answer: bool = False,
    ) -> EnvironmentReturn:
        """:meth:`step` for asyncio trainers: awaits the scores without blocking the loop."""
        future = self.step_async(message_log_batch, metadata, return_extracted_answer)
        return await asyncio.wrap_future(future)

    def _environment_return(
        self,
        scores: pd.DataFrame,
        metadata: Sequence[Mapping[str, Any]],
        return_extracted_answer: bool,
    ) -> EnvironmentReturn:
        """The step's result from the kernel's scores, in NeMo-RL's shape."""
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
                None if stop_strings is None else list(stop_strings) for _ in range(len(scores))
            ],
            rewards=rewards,
            terminateds=torch.ones_like(rewards),
            answers=answers,
        )

    def global_post_process_and_metrics(
        self, batch: MutableMapping[str, Any]
    ) -> tuple[MutableMapping[str, Any], Metrics]:
        """Mask rewards by ``is_end`` in ``batch``, compute its metrics (:mod:`.metrics`)."""
        return global_post_process_and_metrics(batch)

    def shutdown(self) -> None:
        """Finish the steps in flight, then close the client and cluster this environment
        started, if it started them; a client passed in stays open and usable. Calling it
        again does nothing."""
        self._closed = True
        self._steps.shutdown(wait=True)
        self._session.close()

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
