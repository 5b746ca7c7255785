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
from pipeline.cluster import local_cluster, worker_count
from pipeline.partition import partition_scores
from rewards import ScoringConfig, load_config
from rewards.math_answers import math_verify_func

WARM_UP_ANSWER = "\\boxed{1}"
"""Scored against itself by each worker when a session starts, to start its scoring process."""


class ScoringSession:
    """Scores batches on a Dask cluster: the one behind ``client``, or else a local cluster of
    ``num_workers`` single-threaded processes (one per core by default) that it owns.

    A batch is cut into ``num_workers`` partitions, or as many as the cluster has threads. A
    bad configuration raises :class:`rewards.ConfigError` before any cluster starts; a scoring
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
                client = self._owned.enter_context(closing(Client(cluster)))
            self.client = client
            self.partitions = self.config.num_workers or worker_count(client)
            # Start every worker's scoring process now, and check that it scores, so the first
            # batch does not pay its start-up.
            client.run(math_verify_func, [WARM_UP_ANSWER], [WARM_UP_ANSWER])
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
        return score_frame(self.client, frame, self.config, self.partitions, self._meta, wanted)

    def close(self) -> None:
        """Close the client and cluster this session started, if it started them; a client
        given stays open and usable. Calling it again does nothing."""
        self._owned.close()
