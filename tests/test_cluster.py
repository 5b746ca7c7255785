"""The local clusters rollscore starts keep bounded histories, however long they run, and keep
every worker their nannies bring back."""

from __future__ import annotations

import os
import signal
import time

import dask
import pytest
from dask.utils import parse_timedelta
from distributed import Client, Worker
from rollscore.pipeline import cluster as cluster_module
from rollscore.pipeline.cluster import (
    DASK_LOST_WORKER_TIMEOUT,
    HISTORY_LENGTH,
    LOST_WORKER_TIMEOUT_KEY,
    local_cluster,
)


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


SLOW_START = """
import os, time
if os.path.exists({marker!r}):
    time.sleep({seconds})
"""
"""A worker preload: a worker started while the marker file exists takes ``seconds`` to start."""


def test_dask_ships_the_lost_worker_timeout_rollscore_replaces():
    # rollscore recognises Dask's own default to replace it (a user's setting is kept)
    shipped = dask.config.merge(*dask.config.defaults)
    for key in LOST_WORKER_TIMEOUT_KEY.split("."):
        shipped = shipped[key]
    assert parse_timedelta(shipped) == parse_timedelta(DASK_LOST_WORKER_TIMEOUT)


@pytest.mark.slow
def test_a_worker_restarted_after_the_lost_worker_timeout_stays_in_the_cluster(
    tmp_path, monkeypatch
):
    # Dask's own local clusters close a worker's nanny for good when no worker of its name is
    # back 15 s (distributed.deploy.lost-worker-timeout) after one was lost, so a slow restart
    # or a second crash at that moment leaves the run a worker short. Here Dask's default is 2 s
    # (so the test waits seconds, not tens), the worker is killed, comes back, and is killed
    # again; its second start takes longer than those 2 s.
    default = "2s"
    monkeypatch.setattr(cluster_module, "DASK_LOST_WORKER_TIMEOUT", default)
    marker = tmp_path / "slow"
    preload = tmp_path / "slow_start.py"
    preload.write_text(SLOW_START.format(marker=str(marker), seconds=parse_timedelta(default) + 3))
    with (
        dask.config.set({"distributed.worker.preload": [str(preload)]}),
        dask.config.set({LOST_WORKER_TIMEOUT_KEY: default}),
        local_cluster(2, "127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        for slow in (False, True):  # the second time, the worker the nanny brought back
            if slow:
                marker.touch()
            address = min(client.nthreads())
            os.kill(client.run(os.getpid, workers=[address])[address], signal.SIGKILL)
            _wait_until_gone(client, address)
            client.wait_for_workers(2, timeout=60)
        time.sleep(1.0)  # past the last loss's timeout

        assert len(client.run(os.getpid)) == 2
        assert len(cluster.workers) == 2


def _wait_until_gone(client: Client, address: str, timeout: float = 30.0) -> None:
    """Wait until the scheduler has seen the worker at ``address`` leave."""
    deadline = time.monotonic() + timeout
    while address in client.nthreads():
        assert time.monotonic() < deadline, f"{address} is still connected"
        time.sleep(0.02)
