"""The local clusters rollscore starts keep bounded histories, however long they run."""

from __future__ import annotations

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
