"""A scoring session: the Dask cluster the training adapters score on, and the scoring of a
batch there, as every front end scores: a Dask dataframe mapped with the partition kernel.

The cluster is the one behind a given client, which the session never closes, or a local one
(:func:`rollscore.pipeline.cluster.local_cluster`) that it starts, warms and closes. Every
adapter (NeMo-RL's ``VLMEnvironment``, the TRL reward, the verl reward) scores through one of
these. A step's tasks show in the dashboard's task stream under :data:`STEP_TOKEN`; a partition
whose worker dies is scored again on the workers left. A session is one Dask span
(``rollscore`` / its name), watched by rollscore's monitor unless the config turns it off
(:mod:`rollscore.pipeline.monitor`).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import CancelledError
from contextlib import ExitStack, closing, suppress

import dask
import dask.dataframe as dd
import pandas as pd
from distributed import Client
from distributed import TimeoutError as DaskTimeoutError  # asyncio's, on Python 3.10
from rollscore.pipeline.cluster import WORKER_WAIT as CLUSTER_WORKER_WAIT
from rollscore.pipeline.cluster import local_client, local_cluster, worker_count
from rollscore.pipeline.errors import NoWorkers
from rollscore.pipeline.kernel import score_partition, scores_meta
from rollscore.pipeline.monitor.plugin import install_monitor, new_span
from rollscore.rewards import ScoringConfig, load_config
from rollscore.rewards.math_answers import math_verify_func

STEP_TOKEN = "rollscore-step"
"""The name a batch's scoring tasks carry on the dashboard."""
STEP_COLUMNS = ["reward", "correct", "extracted_answer", "error", "error_kind"]
"""The kernel's output columns a step uses (with the ``reward_<name>`` columns when a caller
asks for them)."""
WARM_UP_ANSWER = "\\boxed{1}"
"""Scored against itself by each worker when a session starts, to start its scoring process."""
WORKER_WAIT = 1.0
"""Seconds a batch's partition waits for the worker chosen for it to be running (one gone or
paused is left for the others: Dask's own wait is its 30 s connect timeout)."""
SCATTER_ATTEMPTS = 3
"""Times a batch is sent and scored when a worker dies holding some of its rows (Dask cannot
score them again from rows it no longer has) or before it could take them (the session then
cannot reach it): either way the session sends the rows again, to the workers left."""


class ScoringSession:
    """Scores batches on a Dask cluster: the one behind ``client``, or else a local cluster of
    ``num_workers`` single-threaded processes (one per core by default) that it owns.

    A batch is cut into ``num_workers`` partitions, or as many as the cluster has threads. A
    bad configuration raises :class:`rollscore.rewards.ConfigError` before any cluster starts;
    a scoring process that cannot start raises :class:`rollscore.rewards.VerifierUnavailable`.
    A batch that finds the cluster without workers (its only one died and its nanny is starting
    it again) waits up to ``worker_wait`` seconds for one, then raises
    :class:`rollscore.pipeline.errors.NoWorkers`.
    Every batch it scores belongs to one Dask span, named ``name`` and a short unique suffix
    (:attr:`span_name`): the dashboard and Prometheus show the session under that name.
    """

    def __init__(
        self,
        config: object,
        client: Client | None = None,
        name: str = "session",
        worker_wait: float = CLUSTER_WORKER_WAIT,
    ) -> None:
        self.config: ScoringConfig = load_config(config)
        self.worker_wait = worker_wait
        self.span_name = f"{name} {uuid.uuid4().hex[:8]}"
        self._span = new_span(self.span_name)
        self._owned = ExitStack()
        self._empty_scores = scores_meta(self.config)
        try:
            if client is None:
                cluster = self._owned.enter_context(local_cluster(self.config.num_workers))
                # Closed, not entered: it may be closed from another thread than this one.
                # Direct: the scores come back from the workers, not through the scheduler.
                client = self._owned.enter_context(
                    closing(local_client(cluster, direct_to_workers=True))
                )
            self.client = client
            if self.config.monitor:
                install_monitor(client)
            self.partitions = self.config.num_workers or worker_count(client)
            # Start every worker's scoring process now, and check that it scores, so the first
            # batch does not pay its start-up.
            client.run(math_verify_func, [WARM_UP_ANSWER], [WARM_UP_ANSWER])
        except BaseException:
            self._owned.close()
            raise

    def score(
        self, frame: pd.DataFrame, components: bool = False, token: str = STEP_TOKEN
    ) -> pd.DataFrame:
        """The kernel's step columns for each row of ``frame``, in row order, and its
        ``reward_<name>`` columns too when ``components``; an empty frame never reaches the
        cluster. ``token`` names the batch's tasks on the dashboard."""
        wanted = self.columns(components)
        if frame.empty:
            return self._empty_scores[wanted]
        for attempt in range(1, SCATTER_ATTEMPTS + 1):
            try:
                return self._scores(frame, token)[wanted]
            # CancelledError: a worker died holding some of the rows, and Dask forgot them;
            # OSError: a worker died between the listing of the workers and the sending.
            except (CancelledError, OSError):
                if attempt == SCATTER_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def columns(self, components: bool = False) -> list[str]:
        """The columns :meth:`score` returns: the step's, and the components' if asked."""
        return STEP_COLUMNS + self.config.component_columns if components else STEP_COLUMNS

    def _scores(self, frame: pd.DataFrame, token: str) -> pd.DataFrame:
        """Every score column of ``frame``'s rows, in row order: its partitions
        (:func:`partitions_by_ground_truth`) sent straight to the workers (one hop, where a
        graph would carry them through the scheduler), each to the worker that scored the
        earlier rows of its ground truths, a Dask dataframe of them mapped with the kernel,
        the scores gathered straight from the workers."""
        workers = self._workers()
        parts = partitions_by_ground_truth(frame, self.partitions)
        sent = [self._send(part, workers[index % len(workers)]) for index, part in parts.items()]
        # the kernel gets the values as given: a number is no response text
        with dask.config.set({"dataframe.convert-string": False}):
            batch = dd.from_delayed(sent, meta=frame.iloc[:0], verify_meta=False)
            scored = batch.map_partitions(
                score_partition, self.config, meta=self._empty_scores, token=token
            )
            # one future per partition: computing the collection itself would first
            # concatenate them on one worker
            partitions = scored.to_delayed()
        with dask.annotate(span=self._span):
            futures = self.client.compute(partitions)
        return pd.concat(self.client.gather(futures)).sort_index()

    def _workers(self) -> list[str]:
        """The cluster's workers, once it has one: up to :attr:`worker_wait` seconds for one to
        come back when it has none, then :class:`NoWorkers`."""
        deadline = time.monotonic() + self.worker_wait
        while not (workers := sorted(self.client.nthreads())):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NoWorkers(f"the Dask cluster has had no workers for {self.worker_wait:g} s")
            with suppress(DaskTimeoutError):
                self.client.wait_for_workers(1, timeout=remaining)
        return workers

    def _send(self, part: pd.DataFrame, worker: str) -> object:
        """``part`` held by ``worker``, or by any running worker when that one does not run."""
        try:
            return self.client.scatter(part, workers=[worker], direct=True, timeout=WORKER_WAIT)
        except DaskTimeoutError:  # Dask found no running worker of that address
            return self.client.scatter(part, direct=True)

    def close(self) -> None:
        """Close the client and cluster this session started, if it started them; a client
        given stays open and usable. Calling it again does nothing."""
        self._owned.close()


def partitions_by_ground_truth(frame: pd.DataFrame, count: int) -> dict[int, pd.DataFrame]:
    """``frame``'s rows in at most ``count`` partitions (the empty ones left out), the rows of
    one ground truth always in the same one: a GRPO group's samples, and the samples of one
    prompt that a server gets one by one over many batches, are scored on one worker, whose
    memo then asks math-verify each of their questions once."""
    keys = pd.util.hash_array(frame["ground_truth"].map(repr).to_numpy(dtype=object))
    return {int(index): part for index, part in frame.groupby(keys % count)}
