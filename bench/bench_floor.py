"""An offline run against its floor: the math-verify work it cannot avoid, and where the rest
of its time goes, measured inside the run.

The floor of a run is each distinct (ground truth, answer) question of its corpus verified
once, on every worker at once, plus the fixed cost of starting. Here:

1. the corpus's distinct questions are scored once each by ``score_batch`` in a fresh process
   (one row per question, a scoring process of its own; ``--sample N`` times about N of them,
   in runs of consecutive ones spread over the corpus, and scales to all, for corpora whose
   questions would take hours), and then once more in consecutive shares among as many
   threads as workers, a scoring process each: what the cores give together;
2. a local cluster starts as ``rollscore score`` starts it (its scoring processes ready): the
   start-up;
3. the run scores the corpus on that cluster (``score_rollouts``, as the command does:
   planning, scoring, writing Parquet and the metrics), and its time beyond the floor is split
   two ways. By the CPU seconds its processes used, per core: the scoring processes'
   verification beyond the floor's (questions verified on more than one worker or again, and
   what the cores lose verifying at once: :mod:`bench.bench_repeats` tells the two apart), the
   workers' own work, the command's, and the time no process used a core. The run is
   CPU-bound, so this split is whole; a worker's wall time by activity would not be: its wait
   for its scoring process also holds the time that process waits for a core the other
   processes hold. Then by activity, from Dask's fine performance metrics of the run's span:
   what a worker spends on math-verify (waiting for its scoring process), per-row work (the
   other rewards and the kernel), reading, writing (the parts and their metric partials),
   planning (probing and scanning the input) and the rest.

Prints the floor, the run, their ratio and both splits, and checks that the run's rewards
equal the plain loop's on a sample of rows (exit status 1 if one differs). The corpus is read
as a stream, never whole, so it may be of any size.

    python -m bench.bench_floor --prompts 8000 --samples 8 --workers 2
    python -m bench.bench_floor --input rollouts-10m.jsonl --sample 20000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import psutil
from rollscore.pipeline.cluster import local_client, local_cluster, prestart_scoring_processes
from rollscore.pipeline.monitor.plugin import RollscoreMonitor
from rollscore.pipeline.run import score_rollouts
from rollscore.rewards import load_config, math_verify_func, score_batch
from rollscore.rewards.registry import REWARDS
from rollscore.rewards.verifier.pool import scoring_processes

from bench.bench_memory import tree_by_role
from bench.corpus import write_corpus
from bench.plain_scoring import CONFIG, plain_reward

CHECKED_ROWS = 2000
"""Rows whose rewards are compared with the plain loop's."""
SAMPLE_RUN = 400
"""Consecutive distinct questions in each run of a ``--sample`` (:func:`spread_sample`)."""
SCORING_TASK, WRITING_TASK = "read", "write-scores"
"""The task prefixes of a run's scoring (Dask names the fused read-and-score task ``read``)
and of its writing; planning's are ``probe_files`` and ``scan_pieces``."""
PLANNING_TASKS = ("probe_files", "scan_pieces")


Pair = tuple[str, str]
"""A row's ground truth and response."""


def corpus_pairs(path: Path) -> Iterator[Pair]:
    """The (ground truth, response) of each row of a JSON-lines corpus, read line by line."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                yield row["ground_truth"], row["response"]


def survey(path: Path, checked: int) -> tuple[list[Pair], dict[int, Pair]]:
    """In one pass over the corpus: one row per distinct question the math reward asks, and
    ``checked`` rows drawn evenly at random (reservoir sampling), by row index."""
    asks = REWARDS["math_expr"].question_of({})
    found: dict[object, Pair] = {}
    sample: list[tuple[int, Pair]] = []
    draw = random.Random(1)
    for index, pair in enumerate(corpus_pairs(path)):
        question = asks(*pair)
        if question is not None and question not in found:
            found[question] = pair
        if index < checked:
            sample.append((index, pair))
        elif (slot := draw.randrange(index + 1)) < checked:
            sample[slot] = (index, pair)
    return list(found.values()), dict(sample)


def spread_sample(questions: list[Pair], size: int) -> list[Pair]:
    """About ``size`` of the questions, in runs of :data:`SAMPLE_RUN` consecutive ones spread
    evenly over the corpus. What math-verify costs on a question depends on the ones just
    before it (a group's questions share a parsed ground truth, answers recur), so questions
    drawn one by one cost more each than the corpus in order: at 1,000,000 rows, 2.6 ms drawn
    at random, 1.92 in runs, 1.94 all of them."""
    length = min(size, SAMPLE_RUN)
    runs = max(1, size // length)
    step = len(questions) / runs
    return [
        question
        for run in range(runs)
        for question in questions[int(run * step) : int(run * step) + length]
    ]


def floor_verification(pairs: list[Pair], threads: int) -> float:
    """Seconds for ``score_batch`` to score ``pairs`` split among ``threads`` threads, a scoring
    process each. Run it in a fresh process (:func:`in_fresh_process`), where math-verify's memo
    remembers nothing yet. Each thread takes a consecutive share, as a run's partitions are
    consecutive rows: a group's questions then share a parsed ground truth in one process,
    where every other question to each would parse every ground truth twice (at 64,000 rows
    two processes gave 1.46x one so, against 1.80x in consecutive shares)."""
    scoring_processes.prestart(threads)
    config = load_config(CONFIG)
    size = -(-len(pairs) // threads)
    shares = [pairs[start : start + size] for start in range(0, len(pairs), size)]

    def scored(share: list[Pair]) -> None:
        score_batch(config, [gt for gt, _ in share], [response for _, response in share])

    with ThreadPoolExecutor(threads) as pool:  # every scoring process ready, then timed
        list(pool.map(scored, [[("0", f"<answer>{n + 1}</answer>")] for n in range(threads)]))
        started = time.perf_counter()
        list(pool.map(scored, shares))
    return time.perf_counter() - started


def in_fresh_process(function, *arguments):
    """``function(*arguments)`` in a new Python process of its own, and its result."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
        return process.submit(function, *arguments).result()


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of this process (the command, with its scheduler), of the workers and
    of their scoring processes."""
    return tree_by_role(psutil.Process(), lambda member: sum(member.cpu_times()[:2]))


def questions_asked(dask_scheduler) -> tuple[int, int]:
    """The questions math-verify was asked in the latest run, and those its memos answered, as
    rollscore's monitor counted them."""
    tally = dask_scheduler.plugins[RollscoreMonitor.name].book.latest().tally
    return sum(tally.math_verify), tally.memo_hits


def span_metrics(dask_scheduler) -> dict[tuple[str, str], float]:
    """The run's fine performance metrics in seconds, by (task prefix, activity)."""
    span = dask_scheduler.extensions["spans"].merge_by_tags("rollscore")
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for (context, prefix, activity, unit), value in span.cumulative_worker_metrics.items():
        if context == "execute" and unit == "seconds":
            seconds[(str(prefix), str(activity))] += value
    return dict(seconds)


def corpus_parser(description: str) -> argparse.ArgumentParser:
    """A command line that takes a corpus (:func:`corpus_of`) and a number of workers."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8000)
    parser.add_argument("--samples", type=int, default=8, help="responses per prompt")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--input", type=Path, help="an existing JSONL corpus")
    return parser


def corpus_of(args: argparse.Namespace, scratch: str) -> Path:
    """The ``--input`` corpus, or a new one of ``--prompts`` and ``--samples`` in ``scratch``."""
    return args.input or write_corpus(Path(scratch) / "rollouts.jsonl", args.prompts, args.samples)


def main() -> int:
    parser = corpus_parser(__doc__)
    parser.add_argument("--sample", type=int, help="distinct questions timed for the floor")
    args = parser.parse_args()
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be at least 1")

    with tempfile.TemporaryDirectory() as scratch:
        corpus = corpus_of(args, scratch)
        questions, checked = survey(corpus, CHECKED_ROWS)
        timed = questions
        if args.sample is not None and args.sample < len(questions):
            timed = spread_sample(questions, args.sample)
        scale = len(questions) / len(timed)
        verify_once = scale * in_fresh_process(floor_verification, timed, 1)
        verify_together = scale * in_fresh_process(floor_verification, timed, args.workers)

        started = time.perf_counter()
        with local_cluster(args.workers) as cluster, local_client(cluster) as client:
            client.run(prestart_scoring_processes, wait=False)
            client.run(math_verify_func, ["\\boxed{1}"], ["\\boxed{1}"])  # every one ready
            start_up = time.perf_counter() - started
            cpu_before = cpu_seconds()
            began = time.perf_counter()
            result = score_rollouts([str(corpus)], CONFIG, str(Path(scratch) / "scored"),
                                    client=client)  # fmt: skip
            run = time.perf_counter() - began
            cpu = {kind: used - cpu_before[kind] for kind, used in cpu_seconds().items()}
            time.sleep(3)  # the workers' last metrics reach the scheduler with a heartbeat
            metrics = client.run_on_scheduler(span_metrics)
            asked, remembered = client.run_on_scheduler(questions_asked)
        scored = pd.read_parquet(Path(scratch) / "scored" / "scores", columns=["reward"])

    rewards = scored["reward"].to_numpy()
    differing = sum(plain_reward(pair) != rewards[index] for index, pair in checked.items())
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
    floor = start_up + verify_once / workers
    whole = start_up + run
    by_cpu = {
        "verifying beyond the floor": cpu["scoring processes"] / workers - verify_once / workers,
        "the workers' own work": cpu["workers"] / workers,
        "the command (scheduler, client)": cpu["command"] / workers,
    }
    by_cpu["no work on a core"] = whole - floor - sum(by_cpu.values())
    by_activity = {
        "math-verify (waiting for its scoring process)": math_verify / workers,
        "per-row work (other rewards, kernel)": per_row / workers,
        "reading": total((SCORING_TASK,), ("reading",)) / workers,
        "writing (parts, metric partials)": total((WRITING_TASK,)) / workers,
        "planning (probe, scan)": total(PLANNING_TASKS) / workers,
    }
    by_activity["scheduling, waiting, tail"] = run - sum(by_activity.values())

    print(f"{result.rows:,} rows, {len(questions):,} distinct questions, {workers} workers")
    print(f"distinct questions once, one process: {verify_once:8.2f} s "
          f"({1000 * verify_once / len(questions):.2f} ms each)")  # fmt: skip
    print(f"the same, {workers} processes at once: {verify_together:8.2f} s "
          f"({verify_once / verify_together:.2f}x one process)")  # fmt: skip
    print(f"start-up (cluster, scoring processes): {start_up:7.2f} s")
    print(f"floor: {verify_once:.2f} / {workers} + {start_up:.2f} = {floor:.2f} s")
    print(f"run: {start_up:.2f} + {run:.2f} = {whole:.2f} s  ->  {whole / floor:.2f}x the floor")
    print(f"  against the cores' verification at once ({start_up:.2f} + {verify_together:.2f} s): "
          f"{whole / (start_up + verify_together):.2f}x")  # fmt: skip
    print(f"math-verify was asked {asked:,} questions in the run "
          f"({asked / len(questions):.3f}x the distinct ones); "
          f"its memos answered {remembered:,}")  # fmt: skip
    print("CPU seconds during the run: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    print("where the run's time beyond the floor goes, by the CPU it used (seconds per core):")
    for name, seconds in by_cpu.items():
        print(f"  {name:<48}{seconds:8.2f}")
    print("a worker's time by activity (seconds per worker, from Dask's fine performance metrics):")
    for name, seconds in by_activity.items():
        print(f"  {name:<48}{seconds:8.2f}")
    print(f"rewards that differ from the plain loop: {differing} of {len(checked)} sampled")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
