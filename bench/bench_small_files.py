"""Many small input files against one file of the same rows: ``rollscore score`` on the
corpus as one JSONL file, then as one file per row, each command timed end to end, one after
the other; the outputs must hold the same rewards in the same order.

    python -m bench.bench_small_files --rows 5000 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_pipeline import rollscore_rewards
from bench.corpus import write_corpus


def timed(inputs: Path, scratch: Path, workers: int) -> tuple[float, list[float]]:
    """The command's wall seconds on ``inputs``, and the rewards it wrote."""
    scratch.mkdir()
    started = time.perf_counter()
    rewards = rollscore_rewards(inputs, scratch, workers)
    return time.perf_counter() - started, rewards


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        one = write_corpus(folder / "rollouts.jsonl", -(-args.rows // 8), 8)
        lines = one.read_text().splitlines()[: args.rows]
        one.write_text("".join(line + "\n" for line in lines))
        many = folder / "many"
        many.mkdir()
        for index, line in enumerate(lines):
            (many / f"row-{index:06d}.jsonl").write_text(line + "\n")
        one_seconds, one_rewards = timed(one, folder / "one-run", args.workers)
        many_seconds, many_rewards = timed(many, folder / "many-run", args.workers)
    differing = sum(a != b for a, b in zip(one_rewards, many_rewards, strict=True))
    print(f"{len(lines):,} rows, {args.workers} workers, format 0.2 + math_expr 0.8")
    print(f"  one file of {len(lines):,} rows            {one_seconds:7.2f} s")
    print(f"  {len(lines):,} files of one row each       {many_seconds:7.2f} s")
    print(f"  many files / one file: {many_seconds / one_seconds:.2f}x")
    print(f"  rows whose rewards differ: {differing}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
