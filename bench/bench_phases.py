"""Where the seconds of a small ``rollscore score`` run go, seen from outside the command.

Runs the real command as a user does (a fresh process, a local cluster) on a corpus of
``--prompts`` x 8 rows, format 0.2 + math_expr 0.8, and stamps each line it prints as it
arrives: the dashboard link (cluster ready), the first and last progress lines (first and last
scored partition), the summary (metrics computed, cluster closed) and the process's exit.
Prints the phases' seconds, the median of ``--repeats`` runs each.

    python -m bench.bench_phases --prompts 500
    python -m bench.bench_phases --project OTHER_CHECKOUT   # the same, for another rollscore
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.corpus import write_corpus

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "reward_functions:\n- {name: format, weight: 0.2}\n- {name: math_expr, weight: 0.8}\n"
PHASES = (
    ("start to cluster ready", "Dask dashboard"),
    ("to first scored partition", "["),
    ("to last scored partition", "LAST"),
    ("to summary (metrics, cluster closed)", "data source"),
    ("to exit", "EXIT"),
)


def stamped_lines(command: list[str], cwd: Path, environment: dict[str, str]) -> list:
    """(seconds since start, line) for each line the command prints, then (seconds, "EXIT")."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=environment, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []
    lock = threading.Lock()

    def collect(stream) -> None:
        for line in stream:
            with lock:
                lines.append((time.perf_counter() - started, line.rstrip("\n")))

    readers = [
        threading.Thread(target=collect, args=(stream,))
        for stream in (process.stdout, process.stderr)
    ]
    for reader in readers:
        reader.start()
    code = process.wait()
    exited = time.perf_counter() - started
    for reader in readers:
        reader.join()
    if code != 0:
        raise SystemExit(f"the command failed ({code}):\n" + "\n".join(line for _, line in lines))
    return [*sorted(lines), (exited, "EXIT")]


def phase_ends(lines: list[tuple[float, str]]) -> list[float]:
    """The time each phase of :data:`PHASES` ended, from the stamped lines."""
    progress = [seconds for seconds, line in lines if line.startswith("[")]
    ends = []
    for _, marker in PHASES:
        if marker == "LAST":
            ends.append(progress[-1])
        else:
            ends.append(next(seconds for seconds, line in lines if line.startswith(marker)))
    return ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=500, help="prompts of 8 samples each")
    parser.add_argument("--workers", type=int, default=2, help="the command's --workers")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the median is shown")
    parser.add_argument("--project", type=Path, default=ROOT, help="the rollscore tree to run")
    args = parser.parse_args()
    environment = dict(os.environ, PYTHONPATH=str(args.project.resolve()))
    with tempfile.TemporaryDirectory() as scratch:
        corpus = write_corpus(Path(scratch) / "rollouts.jsonl", args.prompts, 8)
        config = Path(scratch) / "config.yaml"
        config.write_text(CONFIG)
        runs = []
        for repeat in range(args.repeats):
            command = [
                sys.executable, "-m", "rollscore.pipeline.cli", "score", str(corpus),
                "--config", str(config), "--workers", str(args.workers),
                "--output", f"{scratch}/out{repeat}", "--dashboard-address", "127.0.0.1:0",
            ]  # fmt: skip
            runs.append(phase_ends(stamped_lines(command, args.project, environment)))
    ends = [statistics.median(run[index] for run in runs) for index in range(len(PHASES))]
    print(f"{args.project}: {args.prompts * 8:,} rows, --workers {args.workers}, "
          f"median of {args.repeats} runs")  # fmt: skip
    previous = 0.0
    for (label, _), end in zip(PHASES, ends):
        print(f"  {label:<38} {end - previous:6.2f} s  (at {end:5.2f} s)")
        previous = end


if __name__ == "__main__":
    main()
