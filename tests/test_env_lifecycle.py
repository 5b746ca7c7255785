"""A ``VLMEnvironment`` that owns its cluster: how it starts it, warms it, and closes it."""

from __future__ import annotations

import os

import psutil
import pytest
import rollscore.env.session
from distributed import Client
from rollscore.env import VLMEnvironment
from rollscore.rewards import ConfigError, VerifierUnavailable

CONFIG = {
    "num_workers": 2,
    "reward_functions": [
        {"name": "format", "weight": 0.2},
        {"name": "math_expr", "weight": 0.8},
    ],
}
SAMPLES = [
    [{"role": "user", "content": "1 + 1?"}, {"role": "assistant", "content": "<answer>2</answer>"}],
    [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "<answer>5</answer>"}],
]
METADATA = [{"ground_truth": "2"}, {"ground_truth": "4"}]


@pytest.mark.slow
def test_owned_cluster_is_local_single_threaded_warm_and_closed_on_exit():
    with VLMEnvironment(CONFIG) as environment:
        workers = environment.client.scheduler_info()["workers"]
        address, security = environment.client.scheduler.address, environment.client.security
        pids = environment.client.run(os.getpid)
        result = environment.step(SAMPLES, METADATA)

        assert len(workers) == 2
        assert all(info["nthreads"] == 1 for info in workers.values())
        assert all(worker.startswith("tls://127.0.0.1:") for worker in workers)
        assert address.startswith("tls://127.0.0.1:")
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
        for pid in pids.values():  # each worker already runs its math-verify process
            children = psutil.Process(pid).children()
            assert any(
                "rollscore.rewards.verifier.scoring_process" in c.cmdline() for c in children
            )
        assert result.rewards.tolist() == pytest.approx([0.95, 0.15])

    with pytest.raises(OSError):  # with the cluster's own credentials: it is gone
        Client(address, security=security, timeout="2s")
    environment.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        environment.step(SAMPLES, METADATA)


@pytest.mark.parametrize(
    "config",
    [
        {"reward_functions": [{"name": "no_such_reward", "weight": 1.0}]},
        {"reward_functions": [{"name": "format", "weight": -1.0}]},
        {"reward_functions": []},
        {"num_workers": 0, "reward_functions": [{"name": "format", "weight": 1.0}]},
    ],
)
def test_a_bad_config_raises_before_any_cluster_starts(config, monkeypatch):
    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a bad config")

    monkeypatch.setattr(rollscore.env.session, "local_cluster", no_cluster)

    with pytest.raises(ConfigError):
        VLMEnvironment(config)


@pytest.mark.slow
def test_a_scoring_process_that_cannot_start_fails_the_environment_at_once(broken_math_verify):
    with pytest.raises(VerifierUnavailable, match="ImportError: this math_verify is broken"):
        VLMEnvironment(CONFIG)  # its workers start with the broken PYTHONPATH
