"""What watching costs: throughput with rollscore's monitor on and off (the config's
``monitor``), measured in one run, format 0.2 + math_expr 0.8.

(a) offline: ``score_rollouts`` of a corpus (64,000 rows by default) into Parquet on a local
cluster of ``--workers`` single-threaded workers, the whole run timed (planning, scoring,
writing, metrics);
(b) training: ``VLMEnvironment.step`` on GRPO batches of ``--samples`` long responses (about
``--reasoning-chars`` characters each), one untimed step then ``--steps`` timed ones, the median
step timed;
(c) the monitor's own work on one partition of the training batch, in this process: its
tally built and carried as Dask carries it, against scoring the partition (``score_batch``),
which is the same on a loaded machine as on an idle one, where (a) and (b) are not.

Each measurement starts a cluster of its own (so none inherits another's math-verify memo) and
the settings alternate, on first in even rounds and off first in odd ones. Prints each
measurement, the ratio of the medians (with monitoring / without) and the cost in percent;
exit status 1 if a reward differs between the two settings.

    python -m bench.bench_monitor --prompts 8000 --samples-per-prompt 8 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from distributed import Client
from distributed.protocol import dumps, loads
from rollscore.pipeline.cluster import local_cluster
from rollscore.pipeline.monitor.runs import RunFigureBook
from rollscore.pipeline.monitor.tally import Tally, partition_tally
from rollscore.pipeline.run import score_rollouts
from rollscore.rewards import load_config, score_batch
from rollscore.rewards.math_answers import math_verify_func

from bench.bench_overlap import Batch, batches
from bench.corpus import write_corpus
from bench.plain_scoring import CONFIG

SETTINGS = (True, False)
"""Monitoring on, then off."""


def offline_run(corpus: Path, workers: int, monitor: bool, scratch: Path) -> tuple[float, list]:
    """Rows per second of one whole scoring run of ``corpus``, and its rewards."""
    with local_cluster(workers, "127.0.0.1:0") as cluster, Client(cluster) as client:
        client.run(math_verify_func, ["\\boxed{1}"], ["\\boxed{1}"])  # warm scoring processes
        output = scratch / f"scored-{'on' if monitor else 'off'}"
        started = time.perf_counter()
        result = score_rollouts(
            [str(corpus)], {**CONFIG, "monitor": monitor}, str(output), client=client,
            overwrite=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    rewards = pd.read_parquet(output / "scores", columns=["reward"])["reward"].tolist()
    return result.rows / seconds, rewards


def training_steps(work: list[Batch], workers: int, monitor: bool) -> tuple[float, list]:
    """Samples per second of the median timed step (after one untimed), and every reward."""
    from rollscore.env import VLMEnvironment  # torch stays out of the workers' imports

    seconds, rewards = [], []
    with VLMEnvironment({**CONFIG, "num_workers": workers, "monitor": monitor}) as env:
        env.step(*work[0])
        for batch in work[1:]:
            began = time.perf_counter()
            rewards.append(env.step(*batch).rewards.tolist())
            seconds.append(time.perf_counter() - began)
    return len(work[1][0]) / statistics.median(seconds), rewards


def partition_work(batch: Batch, workers: int) -> None:
    """Print the seconds of scoring one partition of ``batch`` and of monitoring it."""
    conversations, metadata = batch
    rows = len(conversations) // workers
    responses = [conversation[1]["content"] for conversation in conversations[:rows]]
    truths = [entry["ground_truth"] for entry in metadata[:rows]]
    sources = [entry.get("data_source") for entry in metadata[:rows]]
    config = load_config(CONFIG)
    score_batch(config, ["1"], ["<answer>1</answer>"])  # start the scoring process
    started = time.perf_counter()
    scores = score_batch(config, truths, responses, sources)
    scoring = time.perf_counter() - started
    started = time.perf_counter()
    repeats = 20
    book = RunFigureBook()
    for index in range(repeats):
        carried = loads(dumps({"tally": partition_tally(sources, scores).to_message()}))
        book.reported(index, "span", "bench", 0.0, Tally.from_message(carried["tally"]), True, 1)
    watching = (time.perf_counter() - started) / repeats
    print(
        f"(c) one partition of {rows:,} rows: scoring {scoring:.3f} s, monitoring "
        f"{1000 * watching:.2f} ms ({100 * watching / scoring:.3f}%)"
    )


def compared(
    label: str, rounds: int, measure: Callable[[bool], tuple[float, list]]
) -> tuple[float, int]:
    """Measure with and without, alternating; print each and the ratio of the medians. Returns
    the ratio and how many rewards differ between the settings."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    rewards: dict[bool, list] = {}
    for index in range(rounds):
        for monitor in SETTINGS if index % 2 == 0 else SETTINGS[::-1]:
            rate, rewards[monitor] = measure(monitor)
            rates[monitor].append(rate)
            print(f"  {label}, monitor {'on ' if monitor else 'off'}: {rate:,.0f} rows/s")
    ratio = statistics.median(rates[True]) / statistics.median(rates[False])
    print(f"  {label}: with / without {ratio:.4f}, cost {100 * (1 - ratio):+.2f}%")
    differing = sum(a != b for a, b in zip(_flat(rewards[True]), _flat(rewards[False])))
    return ratio, differing


def _flat(values: list) -> list:
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8000, help="prompts of the corpus")
    parser.add_argument("--samples-per-prompt", type=int, default=8, help="samples per prompt")
    parser.add_argument("--workers", type=int, default=2, help="single-threaded workers")
    parser.add_argument("--samples", type=int, default=8192, help="samples per training step")
    parser.add_argument("--reasoning-chars", type=int, default=4000, help="reasoning per response")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each setting")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        corpus = write_corpus(folder / "rollouts.jsonl", args.prompts, args.samples_per_prompt)
        rows = args.prompts * args.samples_per_prompt
        print(f"(a) offline, {rows:,} rows, {args.workers} workers")
        _, offline_differing = compared(
            "offline",
            args.rounds,
            lambda monitor: offline_run(corpus, args.workers, monitor, folder),
        )
    work = batches(args.steps + 1, args.samples, 1, args.reasoning_chars)
    chars = statistics.fmean(len(c[1]["content"]) for c in work[1][0])
    print(f"(b) training, {args.samples:,} samples a step of {chars:,.0f} characters on average")
    _, step_differing = compared(
        "step", args.rounds, lambda monitor: training_steps(work, args.workers, monitor)
    )
    partition_work(work[1], args.workers)
    print(
        f"rewards that differ between the settings: (a) {offline_differing}, (b) {step_differing}"
    )
    return 1 if offline_differing or step_differing else 0


if __name__ == "__main__":
    sys.exit(main())
