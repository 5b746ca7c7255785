"""Offline throughput: ``rollscore score`` with N workers against a plain serial loop and a
``multiprocessing.Pool(N)`` over the same reward functions, on the synthetic corpus.

For each corpus size, in one run: the serial loop and the Pool of ``plain_scoring.py``
(math-verify called directly, no memo), then the ``rollscore score`` command end to end
(local cluster start-up, planning, scoring, writing Parquet, metrics). Prints rows/s and the
ratios, and checks that rollscore's rewards equal the serial loop's row by row.

    python -m bench.bench_pipeline --prompts 500 8000 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from bench.corpus import read_rows, write_corpus
from bench.plain_scoring import CONFIG, plain_reward, plain_rewards


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def pool_rewards(pairs: list[tuple[str, str]], workers: int) -> list[float]:
    with multiprocessing.Pool(workers) as pool:
        return pool.map(plain_reward, pairs)


def rollscore_rewards(corpus: Path, scratch: Path, workers: int) -> list[float]:
    config = scratch / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    output = scratch / "scored"
    subprocess.run(
        [sys.executable, "-m", "rollscore.pipeline.cli", "score", str(corpus),
             "--config", str(config),
         "--output", str(output), "--workers", str(workers), "--overwrite"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return pd.read_parquet(output / "scores", columns=["reward"])["reward"].tolist()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, nargs="+", default=[500, 8000])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    differing = 0
    for prompts in args.prompts:
        with tempfile.TemporaryDirectory() as scratch:
            corpus = write_corpus(Path(scratch) / "rollouts.jsonl", prompts, args.samples)
            pairs = [(row["ground_truth"], row["response"]) for row in read_rows(corpus)]
            serial, serial_seconds = timed(plain_rewards, pairs)
            pooled, pool_seconds = timed(pool_rewards, pairs, args.workers)
            scored, rollscore_seconds = timed(
                rollscore_rewards, corpus, Path(scratch), args.workers
            )
        rows = len(pairs)
        print(f"{rows} rows ({prompts} prompts x {args.samples} samples), {args.workers} workers")
        for label, seconds in [
            ("serial loop", serial_seconds),
            (f"multiprocessing.Pool({args.workers})", pool_seconds),
            (f"rollscore score --workers {args.workers}", rollscore_seconds),
        ]:
            print(f"  {label:<30} {seconds:9.1f} s {rows / seconds:9.0f} rows/s")
        print(
            f"  rollscore vs serial {serial_seconds / rollscore_seconds:.2f}x, "
            f"vs Pool {pool_seconds / rollscore_seconds:.2f}x"
        )
        mismatched = sum(a != b for a, b in zip(serial, scored)) + abs(len(serial) - len(scored))
        mismatched += sum(a != b for a, b in zip(serial, pooled))
        print(f"  rows whose rewards differ from the serial loop: {mismatched}", flush=True)
        differing += mismatched
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
