"""A training loop that scores batch k while it generates batch k+1, against one that waits.

The loop's generation is a stand-in that takes as long as scoring a batch (a sleep: a GPU
generating leaves the CPUs to the scoring). Three passes over the same kind of batches, on one
local Dask cluster, format 0.2 + math_expr 0.8:
1. scoring alone (``VLMEnvironment.step``), which sets the generation time;
2. waiting: generate a batch, then ``step`` it;
3. overlapped: ``step_async`` a batch, generate the next meanwhile, then take the scores.
Each pass scores its own batches (another seed), so no pass reuses the memo of another. Prints
the seconds per step of each, the ideal, and how many overlapped rewards differ from the plain
loop of ``plain_scoring.py`` on the same batches, in order (exit status 1 if any).

    python -m bench.bench_overlap --batch 2048 --steps 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np
from distributed import Client, LocalCluster

from bench.corpus import rollout_rows
from bench.plain_scoring import CONFIG, plain_rewards

Batch = tuple[list[list[dict[str, str]]], list[dict[str, Any]]]


def batches(count: int, size: int, seed: int, reasoning_chars: int | None) -> list[Batch]:
    """``count`` batches of ``size`` conversations and their metadata, from the corpus."""
    rows = rollout_rows(-(-count * size // 8), 8, seed, reasoning_chars)
    made: list[Batch] = []
    for _ in range(count):
        conversations, metadata = [], []
        for _, row in zip(range(size), rows):  # range first: no row is drawn and dropped
            conversations.append(
                [
                    {"role": "user", "content": row["prompt"]},
                    {"role": "assistant", "content": row["response"]},
                ]
            )
            metadata.append({"ground_truth": row["ground_truth"]})
        made.append((conversations, metadata))
    return made


def waiting_loop(env: Any, work: list[Batch], generate: Callable[[], None]) -> list[list[float]]:
    """Generate, then score and wait for the scores, batch after batch."""
    rewards = []
    for conversations, metadata in work:
        generate()
        rewards.append(env.step(conversations, metadata).rewards.tolist())
    return rewards


def overlapped_loop(env: Any, work: list[Batch], generate: Callable[[], None]) -> list[list[float]]:
    """Generate the first batch; then send each batch to be scored and generate the next
    while it is, taking its scores before sending the next one."""
    rewards = []
    generate()
    for index, (conversations, metadata) in enumerate(work):
        scoring: Future = env.step_async(conversations, metadata)
        if index + 1 < len(work):
            generate()
        rewards.append(scoring.result().rewards.tolist())
    return rewards


def plain_batch_rewards(conversations: list, metadata: list) -> list[float]:
    """The plain loop's rewards of a batch, as a step's float32 tensor holds them."""
    pairs = [(m["ground_truth"], c[1]["content"]) for c, m in zip(conversations, metadata)]
    return np.asarray(plain_rewards(pairs), dtype=np.float32).tolist()


def seconds_per_step(loop: Callable[[], Any], steps: int) -> tuple[Any, float]:
    started = time.perf_counter()
    result = loop()
    return result, (time.perf_counter() - started) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2048, help="samples per step")
    parser.add_argument("--steps", type=int, default=6, help="steps per timed loop")
    parser.add_argument("--workers", type=int, default=2, help="single-threaded workers")
    parser.add_argument("--reasoning-chars", type=int, help="reasoning text length per response")
    args = parser.parse_args()
    from rollscore.env import VLMEnvironment  # torch stays out of the worker processes' imports

    made = [batches(args.steps + 1, args.batch, seed, args.reasoning_chars) for seed in range(3)]
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1"
        ) as cluster,
        Client(cluster) as client,
        VLMEnvironment(CONFIG, client) as env,
    ):
        alone, waiting, overlapped = made
        env.step(*alone[0])  # start the scoring processes
        score_seconds = []
        for conversations, metadata in alone[1:]:
            started = time.perf_counter()
            env.step(conversations, metadata)
            score_seconds.append(time.perf_counter() - started)
        generate_seconds = statistics.median(score_seconds)

        def generate() -> None:
            time.sleep(generate_seconds)

        _, waiting_step = seconds_per_step(
            lambda: waiting_loop(env, waiting[1:], generate), args.steps
        )
        overlapped_rewards, overlapped_step = seconds_per_step(
            lambda: overlapped_loop(env, overlapped[1:], generate), args.steps
        )
    # Overlapped, the loop still generates the first batch alone and scores the last alone.
    ideal = (2 + (args.steps - 1)) * generate_seconds / args.steps
    print(f"workers: {args.workers}, batch: {args.batch}, steps: {args.steps}")
    print(f"score one batch (median):  {generate_seconds:6.2f} s, also the generation time")
    print(f"waiting loop, per step:    {waiting_step:6.2f} s (generate + score)")
    print(f"overlapped loop, per step: {overlapped_step:6.2f} s")
    print(f"ideal overlapped per step: {ideal:6.2f} s (max(generate, score), plus the first")
    print("                           generation and the last scoring, shared by the steps)")
    print(f"waiting / overlapped:      {waiting_step / overlapped_step:6.2f}x")
    differing = sum(
        a != b
        for (conversations, metadata), rewards in zip(overlapped[1:], overlapped_rewards)
        for a, b in zip(rewards, plain_batch_rewards(conversations, metadata))
    )
    print(f"overlapped rewards that differ from the plain loop's, in order: {differing}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
