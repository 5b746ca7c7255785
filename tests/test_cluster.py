"""The local clusters rollscore starts keep bounded histories, however long they run, and keep
every worker their nannies bring back."""

from __future__ import annotations

import os
import signal
import time

import dask
from distributed import Client, Worker

from pipeline.cluster import HISTORY_LENGTH, local_cluster


def busy(seconds: float) -> int:
    """Keep the worker's thread busy, as scoring does, so its profiler has work to sample."""
    ends, spins = time.perf_counter() + seconds, 0
    while time.perf_counter() < ends:
        spins += 1
    return spins


def profile_cycles(dask_worker: Worker) -> int:
    return len(dask_worker.profile_history)


def test_a_workers_profile_history_stops_growing_at_the_bound():
    # one profile cycle every 5 ms: 2 s of work is 400 cycles, where a real run's are seconds
    fast_cycles = {
        "distributed.worker.profile.cycle": "5ms",
        "distributed.worker.profile.interval": "1ms",
    }
    with (
        dask.config.set(fast_cycles),
        local_cluster(1, "127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        client.submit(busy, 2.0, pure=False).result()
        cycles = client.run(profile_cycles)

    assert list(cycles.values()) == [HISTORY_LENGTH]


def test_a_worker_restarted_after_the_lost_worker_timeout_stays_in_the_cluster():
    # Dask's own clusters close a worker's nanny for good when no worker of its name is back
    # within the lost-worker timeout (15 s), so a slow restart or a second crash at that moment
    # leaves the run a worker short. With a 100 ms timeout every restart comes back after it.
    with (
        dask.config.set({"distributed.deploy.lost-worker-timeout": "100ms"}),
        local_cluster(2, "127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        for _ in range(2):  # the second time, the worker the nanny brought back is killed
            address = min(client.nthreads())
            os.kill(client.run(os.getpid, workers=[address])[address], signal.SIGKILL)
            _wait_until_gone(client, address)
            client.wait_for_workers(2, timeout=30)
        time.sleep(0.5)  # well past the last loss's timeout

        assert len(client.run(os.getpid)) == 2
        assert len(cluster.workers) == 2


def _wait_until_gone(client: Client, address: str, timeout: float = 30.0) -> None:
    """Wait until the scheduler has seen the worker at ``address`` leave."""
    deadline = time.monotonic() + timeout
    while address in client.nthreads():
        assert time.monotonic() < deadline, f"{address} is still connected"
        time.sleep(0.02)
