"""An offline run against its floor: the math-verify work it cannot avoid, and where the rest
of its time goes, measured inside the run.

The floor of a run is each distinct (ground truth, answer) question of its corpus verified
once, on every worker at once, plus the fixed cost of starting. Here:

1. the corpus's distinct questions are scored once each by ``score_batch`` in this process
   (one row per question, a scoring process of its own; ``--sample N`` times N of them and
   scales to all, for corpora whose questions would take hours);
2. a local cluster starts as ``rollscore score`` starts it (its scoring processes ready): the
   start-up;
3. the run scores the corpus on that cluster (``score_rollouts``, as the command does:
   planning, scoring, writing Parquet and the metrics), and Dask's fine performance metrics
   of its span split its time: math-verify beyond the floor's (questions verified on more
   than one worker, or again), per-row work (the other rewards and the kernel), reading,
   writing (the parts and their metric partials), planning (probing and scanning the input),
   and what is left (scheduling, waiting, the last partitions' tail).

Prints the floor, the run, their ratio and the split, and checks that the run's rewards equal
the plain loop's on a sample of rows (exit status 1 if one differs).

    python -m bench.bench_floor --prompts 8000 --samples 8 --workers 2
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
from rollscore.pipeline.cluster import local_client, local_cluster, prestart_scoring_processes
from rollscore.pipeline.run import score_rollouts
from rollscore.rewards import load_config, math_verify_func, score_batch
from rollscore.rewards.registry import REWARDS

from bench.corpus import write_corpus
from bench.plain_scoring import CONFIG, plain_reward

CHECKED_ROWS = 2000
"""Rows whose rewards are compared with the plain loop's."""
SCORING_TASK, WRITING_TASK = "read", "write-scores"
"""The task prefixes of a run's scoring (Dask names the fused read-and-score task ``read``)
and of its writing; planning's are ``probe_files`` and ``scan_pieces``."""
PLANNING_TASKS = ("probe_files", "scan_pieces")


def corpus_rows(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype=False)[["ground_truth", "response"]]


def distinct_questions(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """One (ground truth, response) row per distinct question the math reward asks."""
    asks = REWARDS["math_expr"].question_of({})
    found: dict[object, tuple[str, str]] = {}
    for ground_truth, response in zip(rows["ground_truth"], rows["response"]):
        question = asks(ground_truth, response)
        if question is not None and question not in found:
            found[question] = (ground_truth, response)
    return list(found.values())


def floor_verification(questions: list[tuple[str, str]], sample: int | None) -> float:
    """Seconds for ``score_batch`` to score one row per distinct question, in this process."""
    math_verify_func(["\\boxed{1}"], ["\\boxed{1}"])  # its scoring process started and ready
    chosen = questions
    if sample is not None and sample < len(questions):
        chosen = random.Random(0).sample(questions, sample)
    config = load_config(CONFIG)
    started = time.perf_counter()
    score_batch(config, [gt for gt, _ in chosen], [response for _, response in chosen])
    return (time.perf_counter() - started) * len(questions) / len(chosen)


def span_metrics(dask_scheduler) -> dict[tuple[str, str], float]:
    """The run's fine performance metrics in seconds, by (task prefix, activity)."""
    span = dask_scheduler.extensions["spans"].merge_by_tags("rollscore")
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for (context, prefix, activity, unit), value in span.cumulative_worker_metrics.items():
        if context == "execute" and unit == "seconds":
            seconds[(str(prefix), str(activity))] += value
    return dict(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8000)
    parser.add_argument("--samples", type=int, default=8, help="responses per prompt")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--input", type=Path, help="an existing JSONL corpus")
    parser.add_argument("--sample", type=int, help="distinct questions timed for the floor")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        corpus = args.input or write_corpus(
            Path(scratch) / "rollouts.jsonl", args.prompts, args.samples
        )
        rows = corpus_rows(corpus)
        questions = distinct_questions(rows)
        verify_once = floor_verification(questions, args.sample)

        started = time.perf_counter()
        with local_cluster(args.workers) as cluster, local_client(cluster) as client:
            client.run(prestart_scoring_processes, wait=False)
            client.run(math_verify_func, ["\\boxed{1}"], ["\\boxed{1}"])  # every one ready
            start_up = time.perf_counter() - started
            began = time.perf_counter()
            result = score_rollouts([str(corpus)], CONFIG, str(Path(scratch) / "scored"),
                                    client=client)  # fmt: skip
            run = time.perf_counter() - began
            time.sleep(3)  # the workers' last metrics reach the scheduler with a heartbeat
            metrics = client.run_on_scheduler(span_metrics)
        scored = pd.read_parquet(Path(scratch) / "scored" / "scores", columns=["reward"])

    checked = random.Random(1).sample(range(len(rows)), min(CHECKED_ROWS, len(rows)))
    differing = sum(
        plain_reward((rows["ground_truth"][i], rows["response"][i])) != scored["reward"][i]
        for i in checked
    )
    workers = args.workers

    def total(prefixes: tuple[str, ...], activities: tuple[str, ...] | None = None) -> float:
        return sum(
            value
            for (prefix, activity), value in metrics.items()
            if prefix in prefixes and (activities is None or activity in activities)
        )

    math_verify = total((SCORING_TASK,), ("math-verify",))
    per_row = total((SCORING_TASK,), ("other-rewards", "user-functions", "thread-cpu",
                                      "thread-noncpu", "other", "executor"))  # fmt: skip
    reading = total((SCORING_TASK,), ("reading",))
    writing = total((WRITING_TASK,))
    planning = total(PLANNING_TASKS)
    floor = start_up + verify_once / workers
    whole = start_up + run
    split = {
        "math-verify beyond the floor's": (math_verify - verify_once) / workers,
        "per-row work (other rewards, kernel)": per_row / workers,
        "reading": reading / workers,
        "writing (parts, metric partials)": writing / workers,
        "planning (probe, scan)": planning / workers,
    }
    split["scheduling, waiting, tail"] = whole - floor - sum(split.values())

    print(f"{result.rows:,} rows, {len(questions):,} distinct questions, {workers} workers")
    print(f"distinct questions once, one process: {verify_once:8.2f} s "
          f"({1000 * verify_once / len(questions):.2f} ms each)")  # fmt: skip
    print(f"start-up (cluster, scoring processes): {start_up:7.2f} s")
    print(f"floor: {verify_once:.2f} / {workers} + {start_up:.2f} = {floor:.2f} s")
    print(f"run: {start_up:.2f} + {run:.2f} = {whole:.2f} s  ->  {whole / floor:.2f}x the floor")
    print("where the run's time beyond the floor goes (seconds per worker):")
    for name, seconds in split.items():
        print(f"  {name:<40}{seconds:7.2f}")
    print(f"rewards that differ from the plain loop: {differing} of {len(checked)} sampled")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
