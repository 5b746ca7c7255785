"""Which Dask cluster scoring uses: an existing scheduler, or a local cluster started here.

The scheduler address comes from the argument or Dask's own ``scheduler-address`` setting
(``DASK_SCHEDULER_ADDRESS``, ``~/.config/dask``), read at call time. A cluster found that way
is never shut down; a local one is started and closed here. Both the CLI and the training
adapter start their local clusters with :func:`local_cluster`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster


def default_workers() -> int:
    """One single-threaded worker process per core."""
    return os.cpu_count() or 1


def local_cluster(workers: int | None = None) -> LocalCluster:
    """A new ``LocalCluster`` on 127.0.0.1 of ``workers`` single-threaded worker processes (one
    per core by default): math-verify's child processes do the parallel work, one per thread."""
    return LocalCluster(
        n_workers=workers or default_workers(),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
    )


@contextmanager
def scoring_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A client for the run: connected to ``scheduler`` (or Dask's configured address), or to
    a new :func:`local_cluster` of ``workers`` processes, closed on exit."""
    address = scheduler or dask.config.get("scheduler-address", None)
    if address:
        with Client(address) as client:
            yield client
        return
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


def worker_count(client: Client) -> int:
    """Threads across the cluster's workers: how many partitions score at once."""
    return max(1, sum(client.nthreads().values()))
