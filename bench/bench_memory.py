"""Peak memory of ``rollscore score`` over a large Parquet input (default 1M rows).

Writes the shared GRPO-shaped corpus straight to Parquet in row groups (never holding it
all), runs ``rollscore score`` on it with N local workers, and samples the resident memory
of the whole process tree (the CLI, the scheduler, the workers and their math-verify
children) twice a second. Prints the peak of that sum, which over-counts shared pages and so
bounds the real figure from above.

    python bench/bench_memory.py --prompts 125000 --samples 8 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from corpus import MAKE_ROLLOUTS
from plain_scoring import CONFIG

ROW_GROUP = 20_000


def write_parquet(path: Path, prompts: int, samples: int) -> int:
    """Stream the generator's rows into a Parquet file; return the row count."""
    spec = importlib.util.spec_from_file_location("make_rollouts", MAKE_ROLLOUTS)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    writer, batch, total = None, [], 0
    for row in generator.rows(prompts, samples, 0):
        batch.append(row)
        if len(batch) == ROW_GROUP:
            table = pa.Table.from_pylist(batch)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            total += len(batch)
            batch = []
    if batch:
        table = pa.Table.from_pylist(batch)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        total += len(batch)
    writer.close()
    return total


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
        rows = write_parquet(corpus, args.prompts, args.samples)
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
    groups = -(-rows // ROW_GROUP)
    print(f"{rows:,} rows in {groups} row groups of {ROW_GROUP:,}, {args.workers} workers")
    print(f"run: {seconds:.0f} s, {rows / seconds:,.0f} rows/s, exit {run.returncode}")
    print(f"peak resident memory of the process tree: {peak / 2**30:.2f} GiB")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
