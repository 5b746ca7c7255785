"""A scoring session: the Dask cluster the adapters score on, and the scoring of a batch there.

The cluster is the one behind a given client, which the session never closes, or a local one
(:func:`pipeline.cluster.local_cluster`) that it starts, warms and closes. Every adapter
(NeMo-RL's ``VLMEnvironment``, the TRL reward, the verl reward) scores through one of these,
with the offline pipeline's partition kernel.
"""

from __future__ import annotations

from contextlib import ExitStack, closing

import pandas as pd
from distributed import Client

from env.scoring import STEP_COLUMNS, score_frame
from env.step_scorers import SessionScorers
from pipeline.cluster import local_cluster, worker_count
from pipeline.partition import partition_scores, stopping_problem
from rewards import ScoringConfig, VerifierUnavailable, load_config
from rewards.math_answers import math_verify_func

WARM_UP_ANSWER = "\\boxed{1}"
"""Scored against itself by each worker when a session starts, to start its scoring process."""


class ScoringSession:
    """Scores batches on a Dask cluster: the one behind ``client``, or else a local cluster of
    ``num_workers`` single-threaded processes (one per core by default) that it owns.

    A batch is cut into ``num_workers`` partitions, or as many as the cluster has threads. When
    that is one partition per worker of one thread each, the partitions go to
    :class:`~env.step_scorers.StepScorers` on the workers; otherwise, or when a scorer fails,
    they are scored as tasks of a Dask dataframe (:func:`~env.scoring.score_frame`). A bad
    configuration raises :class:`rewards.ConfigError` before any cluster starts; a scoring
    process that cannot start raises :class:`rewards.VerifierUnavailable`.
    """

    def __init__(self, config: object, client: Client | None = None) -> None:
        self.config: ScoringConfig = load_config(config)
        self._owned = ExitStack()
        self._meta = partition_scores(pd.DataFrame(), self.config)
        try:
            if client is None:
                cluster = self._owned.enter_context(local_cluster(self.config.num_workers))
                # Closed, not entered: it may be closed from another thread than this one.
                # Direct: a step's partitions go from here to the workers, not via the scheduler.
                client = self._owned.enter_context(closing(Client(cluster, direct_to_workers=True)))
            self.client = client
            self.partitions = self.config.num_workers or worker_count(client)
            # Start every worker's scoring process now, and check that it scores, so the first
            # batch does not pay its start-up.
            client.run(math_verify_func, [WARM_UP_ANSWER], [WARM_UP_ANSWER])
            self._scorers = self._owned.enter_context(
                closing(SessionScorers(client, self.config, self.partitions))
            )
            self._scorers.current()  # started now, so the first batch does not wait for them
        except BaseException:
            self._owned.close()
            raise

    def score(self, frame: pd.DataFrame, components: bool = False) -> pd.DataFrame:
        """The kernel's step columns for each row of ``frame``, in row order, and its
        ``reward_<name>`` columns too when ``components``; an empty frame never reaches the
        cluster."""
        wanted = STEP_COLUMNS + self.config.component_columns if components else STEP_COLUMNS
        if frame.empty:
            return self._meta[wanted]
        scores = self._scorers.score(frame, wanted)
        if scores is None:  # no scorers on this cluster, or one failed: tasks
            scores = score_frame(
                self.client, frame, self.config, self.partitions, self._meta, wanted
            )
        stopped = stopping_problem(scores)  # a step reads no files: only its scoring can stop it
        if stopped is not None:
            raise VerifierUnavailable(stopped.message)
        return scores

    def close(self) -> None:
        """Close the client and cluster this session started, if it started them; a client
        given stays open and usable. Calling it again does nothing."""
        self._owned.close()
