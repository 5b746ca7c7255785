"""``VLMEnvironment.step`` against NeMo-RL's own design, on GRPO batches of long responses.

NeMo-RL's environment keeps ``num_workers`` Ray actors (``VLMVerifyWorker``); a step joins each
conversation's assistant messages, cuts the batch into one chunk per actor, and ``ray.get``s
the chunks' rewards, each actor calling the reward functions (math-verify in its own process)
pair after pair. Here that design is rebuilt with the same rewards, format 0.2 + math_expr 0.8
(:mod:`bench.plain_scoring`), beside rollscore's ``VLMEnvironment`` on a local Dask cluster of
as many single-threaded workers. One design runs after the other, never both at once.

Per design: start-up (from nothing until a one-sample step has returned), then one untimed
step and ``--steps`` timed steps, each on its own batch (another seed: no step reuses what
an earlier one computed). Prints the median step of each, the ratio, start-ups, and whether
every reward agrees (exit status 1 if one does not). Needs the ``bench`` extra (Ray).

    python -m bench.bench_ray_design --samples 8192 --reasoning-chars 4000
    python -m bench.bench_ray_design --samples 4096 --reasoning-chars 32000
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.bench_overlap import Batch, batches
from bench.plain_scoring import CONFIG

ROOT = Path(__file__).resolve().parents[1]


class PlainVerifyWorker:
    """NeMo-RL's ``VLMVerifyWorker``: the combined reward of each pair, one after the other,
    in this process."""

    def verify(self, pred_responses: list[str], ground_truths: list[str]) -> list[float]:
        from bench.plain_scoring import plain_reward

        return [plain_reward(pair) for pair in zip(ground_truths, pred_responses)]


def chunks(items: Sequence[Any], count: int) -> list[Sequence[Any]]:
    """``items`` cut into ``count`` contiguous chunks of nearly equal length, as NeMo-RL's
    ``chunk_list_to_workers``."""
    size, extra = divmod(len(items), count)
    bounds = [index * size + min(index, extra) for index in range(count + 1)]
    return [items[start:end] for start, end in itertools.pairwise(bounds)]


class RayDesign:
    """NeMo-RL's environment step on Ray actors."""

    def __init__(self, workers: int) -> None:
        import ray

        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        )
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )
        actor = ray.remote(num_cpus=1)(PlainVerifyWorker)
        self.workers = [actor.remote() for _ in range(workers)]

    def step(self, batch: Batch) -> list[float]:
        import ray
        import torch

        conversations, metadata = batch
        responses = [
            "".join(m["content"] for m in conversation if m["role"] == "assistant")
            for conversation in conversations
        ]
        ground_truths = [entry["ground_truth"] for entry in metadata]
        futures = [
            worker.verify.remote(list(response_chunk), list(truth_chunk))
            for worker, response_chunk, truth_chunk in zip(
                self.workers,
                chunks(responses, len(self.workers)),
                chunks(ground_truths, len(self.workers)),
            )
        ]
        return torch.tensor([r for chunk in ray.get(futures) for r in chunk]).tolist()

    def close(self) -> None:
        import ray

        ray.shutdown()


class RollscoreDesign:
    """rollscore's ``VLMEnvironment`` with a local cluster of its own."""

    def __init__(self, workers: int) -> None:
        from rollscore.env import VLMEnvironment

        self.env = VLMEnvironment({**CONFIG, "num_workers": workers})

    def step(self, batch: Batch) -> list[float]:
        return self.env.step(*batch).rewards.tolist()

    def close(self) -> None:
        self.env.shutdown()


def measure(
    design: Callable[[int], Any], workers: int, work: list[Batch], tiny: Batch
) -> tuple[float, list[float], list[list[float]]]:
    """Start-up seconds, the timed steps' seconds and every timed step's rewards."""
    started = time.perf_counter()
    running = design(workers)
    try:
        running.step(tiny)
        startup = time.perf_counter() - started
        running.step(work[0])
        seconds, rewards = [], []
        for batch in work[1:]:
            began = time.perf_counter()
            rewards.append(running.step(batch))
            seconds.append(time.perf_counter() - began)
    finally:
        running.close()
    return startup, seconds, rewards


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8192, help="samples per step")
    parser.add_argument("--reasoning-chars", type=int, default=4000, help="reasoning per response")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per design")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors and Dask workers")
    args = parser.parse_args()

    work = batches(args.steps + 1, args.samples, 1, args.reasoning_chars)
    tiny = ([work[0][0][0]], [work[0][1][0]])
    mean_chars = statistics.fmean(len(c[1]["content"]) for c in work[1][0])
    print(f"{args.samples} samples a step, responses of {mean_chars:,.0f} characters on average")
    ray_startup, ray_seconds, ray_rewards = measure(RayDesign, args.workers, work, tiny)
    own_startup, own_seconds, own_rewards = measure(RollscoreDesign, args.workers, work, tiny)

    ray_step, own_step = statistics.median(ray_seconds), statistics.median(own_seconds)
    print(f"workers: {args.workers}, timed steps: {args.steps}")
    print(f"{'':<28}{'step (median)':>14}{'start-up':>10}")
    print(f"{'NeMo-RL design (Ray)':<28}{ray_step:>12.2f} s{ray_startup:>8.2f} s")
    print(f"{'rollscore VLMEnvironment':<28}{own_step:>12.2f} s{own_startup:>8.2f} s")
    print(f"step speed-up: {ray_step / own_step:.1f}x")
    differing = sum(a != b for x, y in zip(ray_rewards, own_rewards) for a, b in zip(x, y))
    total = sum(len(rewards) for rewards in own_rewards)
    print(f"rewards that differ: {differing} of {total}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
