"""Scoring a step's partitions on Dask actors: one :class:`PartitionScorer` held on each worker
of a cluster of single-threaded workers, sent its partition straight from the client.

A task costs a step a scheduler round trip: the graph goes to the scheduler, which plans it and
sends each partition on to a worker, hears back when it is done, and only then tells the
client. An actor call skips all of that (Dask sends it to the worker directly, or through the
scheduler without planning when the client does not connect to workers), which more than
halves a 1,024-sample format-only step on two workers (the README's benchmarks). The scores are
the same: the same kernel (:func:`~pipeline.partition.partition_scores`) scores the same rows.

An actor lives on one worker and is not moved when that worker dies, so a call that fails for
any reason, or whose worker the scheduler has lost, is not retried here: :meth:`StepScorers.score`
returns None and the caller scores the step with tasks instead, which Dask reschedules.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Sequence
from contextlib import suppress
from time import monotonic

import numpy as np
import pandas as pd
from distributed import Actor, BaseActorFuture, Client, Future, wait

from env.scoring import pickled_partitions
from pipeline.partition import partition_scores
from rewards import ScoringConfig

START_SECONDS = 10.0
"""How long the actors may take to start before a step is scored with tasks instead."""

RETRY_SECONDS = 10.0
"""How long a session's steps are scored as tasks after its scorers could not start, before a
start is tried again (the cluster may have grown, shrunk or been restarted meanwhile)."""

LOSS_CHECK_SECONDS = 0.1
"""How often a step waiting on its actors checks whether the scheduler has lost one."""


class PartitionScorer:
    """Held on one worker: scores the partitions sent to it with a scoring configuration."""

    def __init__(self, config: ScoringConfig) -> None:
        self.config = config

    def score(self, partition: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
        """The ``columns`` of the kernel's scores of a partition pickled into ``partition``."""
        return partition_scores(pickle.loads(partition), self.config)[list(columns)]


class StepScorers:
    """One :class:`PartitionScorer` per worker of a cluster whose workers each have one thread,
    so each partition of a step is scored by one worker, all of them at once."""

    def __init__(self, client: Client, futures: list[Future], actors: list[Actor]) -> None:
        self._client = client
        self._futures = futures
        self._actors = actors

    @classmethod
    def start(cls, client: Client, config: ScoringConfig, count: int) -> StepScorers | None:
        """A scorer on each of ``client``'s workers, or None unless the cluster has exactly
        ``count`` workers of one thread each and every scorer starts in time."""
        threads = client.nthreads()
        if len(threads) != count or any(value != 1 for value in threads.values()):
            return None
        addresses = sorted(threads)
        futures = [
            client.submit(PartitionScorer, config, workers=[address], actor=True)
            for address in addresses
        ]
        with suppress(Exception):  # not all started in time, or cancelled by a restart
            wait(futures, timeout=START_SECONDS)
        if any(future.status != "finished" for future in futures):
            client.cancel(futures)  # a worker left, or is too busy: the step uses tasks
            return None
        # Handles made here talk to this client, not to another one made current elsewhere.
        with client.as_current():
            actors = [
                Actor(PartitionScorer, address, future.key)
                for address, future in zip(addresses, futures)
            ]
        return cls(client, futures, actors)

    def score(self, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame | None:
        """The ``columns`` of the kernel's scores of ``frame``'s rows, in row order, or None
        when a call failed or a scorer's worker was lost (the caller then uses tasks)."""
        partitions = pickled_partitions(frame, len(self._actors))
        wanted = list(columns)
        try:  # a handle refuses a call at once when its worker is known to be lost
            calls = [actor.score(part, wanted) for actor, part in zip(self._actors, partitions)]
        except Exception:
            return None
        parts = []
        for call in calls:
            part = self._outcome(call)
            if part is None:
                return None
            parts.append(part)
        return pd.concat(parts)

    def _outcome(self, call: BaseActorFuture[pd.DataFrame]) -> pd.DataFrame | None:
        """A call's scores once it is done, or None when it failed or the scheduler lost a
        scorer's worker meanwhile: a call to a frozen worker ends only when the scheduler
        declares that worker dead (``distributed.scheduler.worker-ttl``), as its task would."""
        while not call.done():
            if any(future.status != "finished" for future in self._futures):
                return None
            with suppress(Exception):  # not done yet, or done and failed: both seen next
                call.result(timeout=LOSS_CHECK_SECONDS)
        try:
            return call.result()
        except Exception:  # a lost worker, a broken connection, a failing kernel
            return None

    def close(self) -> None:
        """Drop the scorers from their workers now (a step still using them falls back to
        tasks): handles that Dask keeps in reference cycles would hold them until a collection."""
        self._client.cancel(self._futures)


class SessionScorers:
    """A session's current :class:`StepScorers`, shared by its steps in flight: started when
    there are none (by one step at a time, the others meanwhile scored as tasks), tried again
    :data:`RETRY_SECONDS` after a start that failed, and never started again once closed."""

    def __init__(self, client: Client, config: ScoringConfig, count: int) -> None:
        self._client = client
        self._config = config
        self._count = count
        self._lock = threading.Lock()
        self._scorers: StepScorers | None = None
        self._starting = False
        self._retry_at = 0.0  # the monotonic time from which a start is tried again
        self._closed = False

    def current(self) -> StepScorers | None:
        """The scorers, started if there are none; None while they cannot be (the cluster does
        not have ``count`` single-threaded workers, or they are starting in another step)."""
        with self._lock:
            waiting = self._starting or self._closed or monotonic() < self._retry_at
            if self._scorers is not None or waiting:
                return self._scorers
            self._starting = True
        started = None
        try:
            started = StepScorers.start(self._client, self._config, self._count)
        finally:
            with self._lock:
                self._starting = False
                if started is None:
                    self._retry_at = monotonic() + RETRY_SECONDS
                elif self._closed:  # closed while they started
                    started.close()
                else:
                    self._scorers = started
                current = self._scorers
        return current

    def score(self, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame | None:
        """The scores of :meth:`StepScorers.score` by the current scorers, or None when there
        are none or they failed; failed ones are dropped, so the next batch starts new ones."""
        scorers = self.current()
        scores = None if scorers is None else scorers.score(frame, columns)
        if scores is None and scorers is not None:
            self._drop(scorers)
        return scores

    def _drop(self, scorers: StepScorers | None) -> None:
        """Let go of ``scorers`` unless newer ones replaced them already."""
        with self._lock:
            if scorers is None or scorers is not self._scorers:
                return
            self._scorers = None
        scorers.close()

    def close(self) -> None:
        """Drop the scorers, and start no others."""
        with self._lock:
            self._closed = True
        self._drop(self._scorers)
