"""Benchmark of the training adapter's ``VLMEnvironment.step`` on a warm local Dask cluster.

(a) latency: the median wall time of ``step`` on a batch with a format-only config, on the
environment's own warm cluster (as a trainer makes it, from the config alone) and on the
benchmark's cluster through a client given to it;
(b) throughput: rows per second of ``step`` over a whole rollout corpus with format 0.2 +
math_expr 0.8, in batches, against the offline pipeline (``pipeline.run.score_rollouts``) on
the same rows and the same cluster. Every reward of (a) and (b) is then checked against the
plain loop of ``plain_scoring.py`` (exit status 1 if one differs). The steps' rows are read
before the clock starts, as a trainer holds its batch in memory; the pipeline's time is its
whole run (reading the JSONL, scoring, writing Parquet and metrics). Workers are restarted
before each throughput run, so neither inherits the other's math-verify memo; both start with
a warm math-verify process.

    python -m bench.bench_step --prompts 500 --samples 8

(or ``--rollouts FILE.jsonl`` for an existing corpus).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from distributed import Client
from rollscore.pipeline.cluster import local_cluster
from rollscore.pipeline.run import score_rollouts
from rollscore.rewards.math_answers import math_verify_func

from bench.corpus import write_corpus
from bench.plain_scoring import plain_format_reward, plain_rewards

FORMAT_ONLY = {"reward_functions": [{"name": "format", "weight": 1.0}]}
FORMAT_AND_MATH = {
    "reward_functions": [
        {"name": "format", "weight": 0.2},
        {"name": "math_expr", "weight": 0.8},
    ]
}

Conversation = list[dict[str, str]]


def read_samples(path: str) -> tuple[list[Conversation], list[dict[str, Any]]]:
    """Each rollout row as a step's input: a user/assistant conversation and its metadata."""
    conversations, metadata = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            conversations.append(
                [
                    {"role": "user", "content": row["prompt"]},
                    {"role": "assistant", "content": row["response"]},
                ]
            )
            metadata.append(
                {"ground_truth": row["ground_truth"], "data_source": row["data_source"]}
            )
    return conversations, metadata


def step_latency(
    client: Client | None,
    workers: int,
    conversations: list[Conversation],
    metadata: list[dict],
    batch: int,
    repeats: int,
) -> tuple[list[float], int]:
    """Wall seconds of each of ``repeats`` steps, after three untimed ones, and how many of
    their rewards differ from the plain format reward, on ``client``'s cluster or else on the
    environment's own of ``workers`` workers. Each step scores another window of ``batch``
    rows, as in training, so no step can reuse an earlier result."""
    from rollscore.env import VLMEnvironment  # see main(): kept out of the workers

    starts = [(97 * index) % (len(conversations) - batch + 1) for index in range(repeats + 3)]
    seconds, differing = [], 0
    with VLMEnvironment({**FORMAT_ONLY, "num_workers": workers}, client) as env:
        for start in starts:
            window = slice(start, start + batch)
            began = time.perf_counter()
            rewards = env.step(conversations[window], metadata[window]).rewards
            seconds.append(time.perf_counter() - began)
            plain = [plain_format_reward(c[1]["content"]) for c in conversations[window]]
            differing += sum(a != b for a, b in zip(rewards.tolist(), _float32(plain)))
    return seconds[3:], differing


def step_throughput(
    client: Client, conversations: list[Conversation], metadata: list[dict], batch: int
) -> tuple[float, list[float]]:
    """Rows per second of ``step`` over every row, ``batch`` rows at a time, and the rewards."""
    from rollscore.env import VLMEnvironment  # see main(): kept out of the workers

    rewards: list[float] = []
    with VLMEnvironment(FORMAT_AND_MATH, client) as env:
        started = time.perf_counter()
        for start in range(0, len(conversations), batch):
            window = slice(start, start + batch)
            rewards += env.step(conversations[window], metadata[window]).rewards.tolist()
        return len(conversations) / (time.perf_counter() - started), rewards


def _float32(values: list[float]) -> list[float]:
    """The values as a step's float32 reward tensor holds them."""
    import numpy as np

    return np.asarray(values, dtype=np.float32).tolist()


def pipeline_throughput(client: Client, path: str) -> float:
    """Rows per second of the offline pipeline scoring the rollout file into Parquet."""
    client.run(math_verify_func, ["\\boxed{1}"], ["\\boxed{1}"])
    with tempfile.TemporaryDirectory() as output:
        started = time.perf_counter()
        result = score_rollouts([path], FORMAT_AND_MATH, f"{output}/scores", client=client)
        return result.rows / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", help="a JSONL corpus (default: one made by bench.corpus)")
    parser.add_argument("--prompts", type=int, default=500, help="prompts of the made corpus")
    parser.add_argument("--samples", type=int, default=8, help="samples per prompt of it")
    parser.add_argument("--workers", type=int, default=2, help="single-threaded worker processes")
    parser.add_argument("--batch", type=int, default=1024, help="samples per step")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps for the latency")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rollouts = args.rollouts or str(
            write_corpus(Path(scratch) / "rollouts.jsonl", args.prompts, args.samples)
        )
        return run(args, rollouts)


def run(args: argparse.Namespace, rollouts: str) -> int:
    """Both measurements on one local cluster, then the summary."""
    conversations, metadata = read_samples(rollouts)
    own_seconds, own_differing = step_latency(
        None, args.workers, conversations, metadata, args.batch, args.repeats
    )
    # The workers import this script when they start, so it imports ``env``, and torch with
    # it, only inside the functions that use it: the restarted workers come back in a second.
    with local_cluster(args.workers, "127.0.0.1:0") as cluster, Client(cluster) as client:
        given_seconds, given_differing = step_latency(
            client, args.workers, conversations, metadata, args.batch, args.repeats
        )
        client.restart()
        step_rate, rewards = step_throughput(client, conversations, metadata, args.batch)
        client.restart()
        pipeline_rate = pipeline_throughput(client, rollouts)
    print(f"workers: {args.workers}, rows: {len(conversations)}, batch: {args.batch}")
    print(f"(a) step latency, format only, {args.batch} samples, {args.repeats} steps:")
    for cluster, seconds in (("its own cluster", own_seconds), ("a client given", given_seconds)):
        milliseconds = sorted(1000 * value for value in seconds)
        print(
            f"    on {cluster}: median {statistics.median(milliseconds):.1f} ms, "
            f"min {milliseconds[0]:.1f} ms, max {milliseconds[-1]:.1f} ms"
        )
    latency_differing = own_differing + given_differing
    print(f"(b) step throughput, format 0.2 + math_expr 0.8: {step_rate:,.0f} rows/s")
    print(f"    offline pipeline throughput, same rows:   {pipeline_rate:,.0f} rows/s")
    print(f"    step / pipeline: {step_rate / pipeline_rate:.2f}")
    pairs = [(m["ground_truth"], c[1]["content"]) for c, m in zip(conversations, metadata)]
    throughput_differing = sum(a != b for a, b in zip(rewards, _float32(plain_rewards(pairs))))
    print(f"rewards that differ from the plain loop: (a) {latency_differing}, "
          f"(b) {throughput_differing}")  # fmt: skip
    return 1 if latency_differing or throughput_differing else 0


if __name__ == "__main__":
    sys.exit(main())
