"""Peak memory of ``rollscore score`` over a large Parquet input (default 1M rows).

Writes the synthetic GRPO-shaped corpus straight to Parquet in row groups (never holding it
all), runs ``rollscore score`` on it with N local workers, and samples the resident memory
of the whole process tree (the CLI, the scheduler, the workers and their math-verify
children) twice a second. Prints the peak of that sum, which over-counts shared pages and so
bounds the real figure from above.

    python -m bench.bench_memory --prompts 125000 --samples 8 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from bench.corpus import ROW_GROUP_ROWS, write_corpus
from bench.plain_scoring import CONFIG


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=125_000)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "rollouts.parquet"
        write_corpus(corpus, args.prompts, args.samples)
        rows = args.prompts * args.samples
        config = Path(scratch) / "config.yaml"
        config.write_text(yaml.safe_dump(CONFIG))
        started = time.perf_counter()
        run = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "score", str(corpus), "--config", str(config),
             "--output", str(Path(scratch) / "scored"), "--workers", str(args.workers)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        watched, peak = psutil.Process(run.pid), 0
        while run.poll() is None:
            peak = max(peak, tree_rss(watched))
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        summary = run.stdout.read()
    print(summary)
    groups = -(-rows // ROW_GROUP_ROWS)
    print(f"{rows:,} rows in {groups} row groups of {ROW_GROUP_ROWS:,}, {args.workers} workers")
    print(f"run: {seconds:.0f} s, {rows / seconds:,.0f} rows/s, exit {run.returncode}")
    print(f"peak resident memory of the process tree: {peak / 2**30:.2f} GiB")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
