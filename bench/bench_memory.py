"""Peak memory and planning time of ``rollscore score`` over one large input (default: a single
JSONL file of 10 million rows).

Writes the synthetic GRPO-shaped corpus (streaming, never holding it all), runs ``rollscore
score`` on it with N local workers, and samples the resident memory of the whole process tree
(the CLI, the scheduler, the workers and their scoring processes) twice a second. Prints the
peak of that sum, which over-counts shared pages and so bounds the real figure from above, and
when ``run.json`` appeared: the moment the input was planned and scoring could start. Then
checks the rewards of every ``--check-every``-th row against the plain loop (scoring all of
them that way would take hours).

    python -m bench.bench_memory --prompts 1250000 --samples 8 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import yaml
from rollscore.rewards.verifier.pool import SCORING_PROCESS_MODULE

from bench.corpus import rollout_rows, write_corpus
from bench.plain_scoring import CONFIG, plain_reward


def tree_by_role(process: psutil.Process, measure: Callable[[psutil.Process], float]) -> dict:
    """``measure`` summed over a process and all its descendants, by role: the command itself
    (with its scheduler), its workers (with their nannies), and their scoring processes."""
    roles = {"command": 0, "workers": 0, "scoring processes": 0}
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            value = measure(member)
            if member.pid == process.pid:
                roles["command"] += value
            elif SCORING_PROCESS_MODULE in member.cmdline():
                roles["scoring processes"] += value
            else:
                roles["workers"] += value
    return roles


def tree_rss(process: psutil.Process) -> dict[str, int]:
    """Resident bytes of the process tree, by role (:func:`tree_by_role`)."""
    return tree_by_role(process, lambda member: member.memory_info().rss)


def watch(run: subprocess.Popen, manifest: Path) -> tuple[dict[str, int], float | None]:
    """The resident memory of the run's process tree, by role, when its sum peaked, and the
    seconds until ``manifest`` appeared (None if it never did)."""
    started, watched = time.perf_counter(), psutil.Process(run.pid)
    peak: dict[str, int] = {}
    planned = None
    while run.poll() is None:
        roles = tree_rss(watched)
        if sum(roles.values()) > sum(peak.values()):
            peak = roles
        if planned is None and manifest.exists():
            planned = time.perf_counter() - started
        time.sleep(0.5)
    return peak, planned


def sampled_mismatches(corpus_rows, scored: Path, every: int) -> tuple[int, int]:
    """How many of every ``every``-th row's rewards differ from the plain loop's, of how many."""
    table = pq.read_table(scored, columns=["id", "reward"])
    rewards = dict(zip(table["id"].to_pylist(), table["reward"].to_pylist()))
    checked = mismatched = 0
    for index, row in enumerate(corpus_rows):
        if index % every == 0:
            checked += 1
            expected = plain_reward((row["ground_truth"], row["response"]))
            mismatched += rewards.get(row["id"]) != expected
    return mismatched, checked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1_250_000)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    parser.add_argument("--reasoning-chars", type=int, help="typical reasoning length")
    parser.add_argument("--check-every", type=int, default=1000, help="rows between checks")
    parser.add_argument("--scratch", help="folder for the corpus and the output (default: /tmp)")
    args = parser.parse_args()
    rows = args.prompts * args.samples
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        corpus = Path(scratch) / f"rollouts.{args.format}"
        started = time.perf_counter()
        write_corpus(corpus, args.prompts, args.samples, reasoning_chars=args.reasoning_chars)
        print(f"corpus: {rows:,} rows, {corpus.stat().st_size / 2**30:.2f} GiB in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        config = Path(scratch) / "config.yaml"
        config.write_text(yaml.safe_dump(CONFIG))
        out = Path(scratch) / "scored"
        started = time.perf_counter()
        run = subprocess.Popen(
            [sys.executable, "-m", "rollscore.pipeline.cli", "score", str(corpus),
             "--config", str(config),
             "--output", str(out), "--workers", str(args.workers)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        peak, planned = watch(run, out / "run.json")
        seconds = time.perf_counter() - started
        summary = run.stdout.read()
        partitions = json.loads((out / "metrics.json").read_text())["run"]["partitions"]
        corpus_rows = rollout_rows(args.prompts, args.samples, reasoning_chars=args.reasoning_chars)
        mismatched, checked = sampled_mismatches(corpus_rows, out / "scores", args.check_every)
    print(summary)
    print(f"{rows:,} rows ({args.format}) in {partitions:,} partitions, {args.workers} workers")
    print(f"run: {seconds:.0f} s, {rows / seconds:,.0f} rows/s, exit {run.returncode}")
    print(f"planned (run.json written) {planned or float('nan'):.1f} s after the command started")
    print(f"peak resident memory of the process tree: {sum(peak.values()) / 2**30:.2f} GiB")
    print(
        "  at the peak: " + ", ".join(f"{role} {rss / 2**30:.2f} GiB" for role, rss in peak.items())
    )
    print(f"rewards of {checked:,} sampled rows against the plain loop: {mismatched} differ")
    return 1 if run.returncode or mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
