"""``rollscore serve`` against the designs trainers' users run today, per-sample requests.

The benchmark corpus (:mod:`bench.corpus`) is sent as NeMo-Gym ``/verify`` requests, one
sample each, from ``--connections`` concurrent connections (aiohttp), to:

- ``rollscore serve`` on a local cluster of ``--workers`` workers (format 0.2 + math_expr 0.8);
- a NeMo-Gym-style server on the same rewards, forking a process per verification, 32 at a
  time (:mod:`bench.forked_verify_server`);

and the same rows are scored in this process by ``score_batch`` in one call. Per design: rows
a second, p50 and p99 latency, requests lost (no ``200``). Then rollscore serve gets a fresh
corpus (another seed: nothing memoised) at half its saturating rate, as an open load, for its
p99 there. Every reward is checked against the plain loop (:mod:`bench.plain_scoring`); exit
status 1 if one of rollscore's differs or a request to it is lost (the forked design's
differences are shown: a verification that outlives its 10 s there scores 0.0). One design
runs at a time.

    python -m bench.bench_serve --prompts 250 --samples 8 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rollscore.rewards import load_config, score_batch

from bench.corpus import rollout_rows
from bench.plain_scoring import CONFIG, plain_rewards
from bench.serve_load import Answer, nemo_gym_verify, post_many, post_paced

GOALS = {"vs forked": 5.0, "vs in-process": 0.7, "p99 at half load": 2.0}


class ServerProcess:
    """A server command started here; its URL from the line it prints, ready at /health."""

    def __init__(self, command: Sequence[str]) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stderr is not None
        for line in self.process.stderr:
            found = re.search(r"listening on (http://\S+?)[;\s]", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise RuntimeError(f"{command[0]} did not start")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{command} never became ready")

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(120)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(name: str, rows: int, seconds: float, answers: list[Answer] | None) -> dict[str, Any]:
    """A design's line: throughput, latencies, requests lost."""
    line: dict[str, Any] = {"design": name, "rows/s": rows / seconds}
    if answers is not None:
        latencies = [answer.seconds for answer in answers]
        line["p50 s"] = statistics.median(latencies)
        line["p99 s"] = percentile(latencies, 0.99)
        line["lost"] = sum(answer.status != 200 for answer in answers)
    return line


def burst(url: str, rows: list[dict], connections: int) -> tuple[float, list[Answer]]:
    """Every row as a ``/verify`` request, ``connections`` at once; seconds and answers."""
    requests = [nemo_gym_verify(row, index // 8, index % 8) for index, row in enumerate(rows)]
    began = time.perf_counter()
    answers = post_many(url, requests, connections=connections)
    return time.perf_counter() - began, answers


def rewards_of(answers: list[Answer]) -> list[float | None]:
    return [answer.body["reward"] if answer.status == 200 else None for answer in answers]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=250)
    parser.add_argument("--samples", type=int, default=8, help="responses per prompt")
    parser.add_argument("--workers", type=int, default=2, help="rollscore serve's workers")
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()

    rows = list(rollout_rows(args.prompts, args.samples, seed=0))
    fresh = list(rollout_rows(args.prompts, args.samples, seed=1))
    pairs = [(row["ground_truth"], row["response"]) for row in rows]
    print(f"{len(rows):,} rows, {args.connections} connections, {args.workers} workers")
    expected = plain_rewards(pairs)
    expected_fresh = plain_rewards([(row["ground_truth"], row["response"]) for row in fresh])
    lines, differing = [], {}

    config = load_config(CONFIG)
    score_batch(config, ["1"], ["<answer>1</answer>"])  # its scoring process started
    began = time.perf_counter()
    in_process = score_batch(config, *zip(*pairs)).reward
    lines.append(summary("in-process score_batch", len(rows), time.perf_counter() - began, None))
    differing["in-process score_batch"] = sum(a != b for a, b in zip(in_process, expected))

    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.yaml"
        config_path.write_text(json.dumps(CONFIG))
        server = ServerProcess(
            [sys.executable, "-m", "rollscore.pipeline.cli", "serve", "--config",
             str(config_path), "--port", "0", "--workers", str(args.workers)]
        )  # fmt: skip
        try:
            burst(server.url, rows[:50], 50)  # connections opened, the workers warm
            seconds, answers = burst(server.url, rows, args.connections)
            serve_line = summary("rollscore serve", len(rows), seconds, answers)
            lines.append(serve_line)
            differing["rollscore serve"] = sum(
                a != b for a, b in zip(rewards_of(answers), expected)
            )
            half_rate = serve_line["rows/s"] / 2
            requests = [nemo_gym_verify(row, i // 8, i % 8) for i, row in enumerate(fresh)]
            began = time.perf_counter()
            paced = asyncio.run(post_paced(server.url, requests, half_rate))
            half = summary("rollscore serve, half load", len(fresh), time.perf_counter() - began,
                           paced)  # fmt: skip
            lines.append(half)
            differing["rollscore serve, half load"] = sum(
                a != b for a, b in zip(rewards_of(paced), expected_fresh)
            )
        finally:
            server.stop()

    forked = ServerProcess([sys.executable, "-m", "bench.forked_verify_server", "--port", "0"])
    try:
        seconds, answers = burst(forked.url, rows, args.connections)
        lines.append(summary("NeMo-Gym-style, forked", len(rows), seconds, answers))
        differing["NeMo-Gym-style, forked"] = sum(
            a != b for a, b in zip(rewards_of(answers), expected)
        )
    finally:
        forked.stop()

    print(f"{'design':<30}{'rows/s':>9}{'p50 s':>8}{'p99 s':>8}{'lost':>6}{'differ':>8}")
    for line in lines:
        cells = [f"{line[key]:>8.3f}" if key in line else f"{'':>8}" for key in ("p50 s", "p99 s")]
        lost = f"{line['lost']:>6}" if "lost" in line else f"{'':>6}"
        print(f"{line['design']:<30}{line['rows/s']:>9.0f}{''.join(cells)}{lost}"
              f"{differing[line['design']]:>8}")  # fmt: skip
    by_name = {line["design"]: line for line in lines}
    serve_rate = by_name["rollscore serve"]["rows/s"]
    vs_forked = serve_rate / by_name["NeMo-Gym-style, forked"]["rows/s"]
    vs_in_process = serve_rate / by_name["in-process score_batch"]["rows/s"]
    half_p99 = by_name["rollscore serve, half load"]["p99 s"]
    print(f"rollscore serve / forked: {vs_forked:.1f}x (goal >= {GOALS['vs forked']:g}x)")
    print(f"rollscore serve / in-process: {vs_in_process:.2f}x (goal >= {GOALS['vs in-process']}x)")
    print(f"p99 at half load: {half_p99:.2f} s (goal < {GOALS['p99 at half load']:g} s)")
    ours = [name for name in by_name if not name.startswith("NeMo-Gym")]
    lost = sum(by_name[name].get("lost", 0) for name in ours)
    wrong = sum(differing[name] for name in ours)
    print(f"rollscore: requests lost {lost}, rewards that differ from the plain loop {wrong}")
    return 1 if lost or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
