"""Batch scoring speed: a plain math-verify loop against ``rewards.score_batch``.

Scores the shared synthetic rollout corpus (``/work/shared/bench/make_rollouts.py``) with
format 0.2 + math 0.8 twice, in one process:

1. plain: a serial loop in the main thread calling math-verify directly, as a user would
   without rollscore: the SPEC's format reward plus math-verify's ``math_metric`` on
   ``[boxed(ground truth)], [boxed(tag content)]`` (0.0 with no tag or on an exception),
   combined 0.2/0.8, with no memoisation of its own;
2. rollscore: ``rewards.score_batch`` with ``format`` 0.2 + ``math_expr`` 0.8, timed after
   ``verifier.warm_up()`` so the math-verify child's start-up is not counted.

It prints rows, seconds and rows/s for both, the speed-up, and the number of rows whose
rewards differ; it exits with status 1 if any do.

    python bench/bench_batch.py --prompts 500 --samples 8
    python bench/bench_batch.py --input rollouts.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from math_verify import ExprExtractionConfig, LatexExtractionConfig, math_metric

from rewards import load_config, score_batch
from rewards.math_verifier import verifier

MAKE_ROLLOUTS = Path("/work/shared/bench/make_rollouts.py")
THINK = re.compile(r"<think>[\s\S]*</think>")
ANSWER = re.compile(r"<answer>([\s\S]*)</answer>")
CONFIG = {
    "reward_functions": [{"name": "format", "weight": 0.2}, {"name": "math_expr", "weight": 0.8}]
}


def read_rows(path: Path) -> tuple[list[str], list[str]]:
    """Ground truths and responses of a JSONL or Parquet rollout file."""
    if path.suffix == ".parquet":
        import pandas as pd

        rows = pd.read_parquet(path, columns=["ground_truth", "response"]).to_dict("records")
    else:
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    return [row["ground_truth"] for row in rows], [row["response"] for row in rows]


def boxed(text: str) -> str:
    return text if text.startswith("\\boxed{") else "\\boxed{" + text + "}"


def score_plain(ground_truths: list[str], responses: list[str]) -> list[float]:
    """The loop a user would write with math-verify alone, in the main thread."""
    metric = math_metric(
        gold_extraction_target=(LatexExtractionConfig(),),
        pred_extraction_target=(ExprExtractionConfig(), LatexExtractionConfig()),
    )
    rewards = []
    for ground_truth, response in zip(ground_truths, responses):
        answer = ANSWER.search(response)
        format_score = (0.25 if THINK.search(response) else 0.0) + (0.75 if answer else 0.0)
        accuracy = 0.0
        if answer is not None:
            try:
                score, _ = metric([boxed(ground_truth)], [boxed(answer.group(1))])
                accuracy = 1.0 if score > 0.1 else 0.0
            except Exception:
                accuracy = 0.0
        rewards.append(0.2 * format_score + 0.8 * accuracy)
    return rewards


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def report(label: str, rows: int, seconds: float) -> None:
    print(f"{label:<40} {rows:>7} rows {seconds:>9.2f} s {rows / seconds:>10.1f} rows/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=500, help="prompts to generate")
    parser.add_argument("--samples", type=int, default=8, help="responses per prompt")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--input", type=Path, help="an existing .jsonl or .parquet corpus")
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # one warning per bad answer

    with tempfile.TemporaryDirectory() as scratch:
        path = args.input
        if path is None:
            path = Path(scratch) / "rollouts.jsonl"
            subprocess.run(
                [sys.executable, str(MAKE_ROLLOUTS), "--prompts", str(args.prompts),
                 "--samples", str(args.samples), "--seed", str(args.seed), "--out", str(path)],
                check=True,
            )  # fmt: skip
        ground_truths, responses = read_rows(path)
    rows = len(responses)
    source = args.input or "make_rollouts.py"
    print(f"corpus: {rows} rows from {source}; rewards: format 0.2 + math 0.8")

    plain, plain_seconds = timed(score_plain, ground_truths, responses)
    config = load_config(CONFIG)
    verifier.warm_up()  # start-up of the math-verify child is not counted below
    scores, batch_seconds = timed(score_batch, config, ground_truths, responses)

    report("plain math-verify loop (main thread)", rows, plain_seconds)
    report("rewards.score_batch (child warmed up)", rows, batch_seconds)
    print(f"speed-up: {plain_seconds / batch_seconds:.2f}x")
    differing = sum(a != b for a, b in zip(plain, scores.reward))
    errors = sum(error is not None for error in scores.error)
    print(f"rows with differing rewards: {differing}; score_batch rows with an error: {errors}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
