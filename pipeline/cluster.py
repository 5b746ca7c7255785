"""Which Dask cluster scoring uses: an existing scheduler, or a local cluster started here.

The scheduler address comes from the argument or Dask's own ``scheduler-address`` setting
(``DASK_SCHEDULER_ADDRESS``, ``~/.config/dask``), read at call time. A cluster found that way
is never shut down; a local one is started and closed here. Both the CLI and the training
adapter start their local clusters with :func:`local_cluster`, which listens on 127.0.0.1
only, its dashboard included, unless asked otherwise.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager

import dask
from distributed import Client, LocalCluster, Worker
from distributed.deploy.cluster import Cluster

from pipeline.errors import NoWorkers
from rewards.scoring_children import children


def default_workers() -> int:
    """One single-threaded worker process per core."""
    return os.cpu_count() or 1


DASK_DEFAULT_DASHBOARD = ":8787"
"""Dask's own default, on every network interface."""
LOOPBACK = "127.0.0.1"
LOCAL_DASHBOARD = f"{LOOPBACK}:8787"
WORKER_WAIT = 60.0
"""Seconds to wait for an existing scheduler to have a worker before saying it has none."""
HISTORY_LENGTH = 120
"""Entries each of Dask's low-level histories keeps in the clusters started here, the workers'
one-second statistical profiles among them: the dashboard's profile covers the last two
minutes. Dask's own 1,000 grew each worker by about 300 MB over a long run."""


def dashboard_address(given: str | None = None) -> str:
    """Where the dashboard listens: ``given``, else Dask's
    ``distributed.scheduler.dashboard.address`` when it was set to something else than Dask's
    default, else 127.0.0.1 (another free port if 8787 is taken)."""
    if given:
        return given
    configured = dask.config.get("distributed.scheduler.dashboard.address", None)
    if configured and configured != DASK_DEFAULT_DASHBOARD:
        return configured
    return LOCAL_DASHBOARD


class NannyHealedCluster(LocalCluster):
    """A ``LocalCluster`` whose lost workers are their nannies' to bring back, however late.

    Dask's ``SpecCluster`` closes a worker's nanny for good when no worker of its name is
    connected ``distributed.deploy.lost-worker-timeout`` after one was lost, so a nanny that is
    restarting its worker at that moment (a slow start on a busy machine, a second crash) would
    be closed with it, leaving the run a worker short. Here a loss only updates the worker list.
    """

    def _update_worker_status(self, op: str, msg: object) -> None:
        Cluster._update_worker_status(self, op, msg)


def local_cluster(
    workers: int | None = None, dashboard: str | None = None, in_process: bool = False
) -> LocalCluster:
    """A new :class:`NannyHealedCluster` of ``workers`` single-threaded worker processes on
    127.0.0.1 (one per core by default: math-verify's child processes do the parallel work, one
    per thread), or, ``in_process``, of one worker in this process with ``workers`` threads,
    which starts and stops in a fraction of a second; its dashboard at
    :func:`dashboard_address`."""
    threads = workers or default_workers()
    placement = (
        {"n_workers": 1, "threads_per_worker": threads, "processes": False, "protocol": "tcp"}
        if in_process
        else {"n_workers": threads, "threads_per_worker": 1, "processes": True}
    )
    with (
        warnings.catch_warnings(),  # a taken port: Dask uses another, and the link says which
        dask.config.set({"distributed.admin.low-level-log-length": HISTORY_LENGTH}),
    ):
        warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
        return NannyHealedCluster(
            **placement, host=LOOPBACK, dashboard_address=dashboard_address(dashboard)
        )


@contextmanager
def scoring_client(
    scheduler: str | None = None,
    workers: int | None = None,
    dashboard: str | None = None,
    worker_wait: float = WORKER_WAIT,
    in_process: bool = False,
) -> Iterator[Client]:
    """A client for the run: connected to ``scheduler`` (or Dask's configured address), once it
    has a worker (:class:`NoWorkers` after ``worker_wait`` seconds without one), or to a new
    :func:`local_cluster` of ``workers`` (``in_process`` or not), closed on exit.

    The client is closed, never entered with ``with``: an entered client must be left in the
    thread or task that entered it, and an adapter may close its client from another one.
    """
    address = scheduler or dask.config.get("scheduler-address", None)
    if address:
        with closing(Client(address)) as client:
            try:
                client.wait_for_workers(1, timeout=worker_wait)
            except TimeoutError:
                raise NoWorkers(
                    f"the scheduler at {address} has no workers after {worker_wait:g} s: "
                    f"start some, e.g. 'dask worker {address}'"
                ) from None
            yield client
        return
    with (
        local_cluster(workers, dashboard, in_process) as cluster,
        closing(Client(cluster)) as client,
    ):
        yield client


async def prestart_scoring_processes(dask_worker: Worker) -> None:
    """Start a worker's scoring children, one per thread, without waiting for them (a coroutine,
    for ``client.run(..., wait=False)``): they start while the client plans and sends work."""
    children.prestart(dask_worker.state.nthreads)


def worker_count(client: Client) -> int:
    """Threads across the cluster's workers: how many partitions score at once."""
    return max(1, sum(client.nthreads().values()))
