"""Batch scoring speed in one process: a plain math-verify loop against ``score_batch``.

Scores the synthetic corpus (:mod:`bench.corpus`) with format 0.2 + math 0.8 twice, in one
process:
1. plain: the serial loop of ``plain_scoring.py`` (math-verify called directly, no memo);
2. rollscore: ``rewards.score_batch``, timed once a scoring process has answered, so its
   start-up is not counted.
Prints rows, seconds and rows/s for both, the ratio, and how many rows' rewards differ
(exit status 1 if any do). Then the cost of running a user's function in the scoring process
(each sample a round trip there, under the sample time limit): the format reward scored as
the built-in ``format`` (in this process) and as a user's function,
``"rollscore.rewards.format:format_reward"`` (in the scoring process), which must give the same
rewards.

    python -m bench.bench_batch --prompts 500 --samples 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rollscore.rewards import load_config, math_verify_func, score_batch

from bench.corpus import read_rows, write_corpus
from bench.plain_scoring import CONFIG, plain_rewards

FORMAT = {"reward_functions": [{"name": "format", "weight": 1.0}]}
FORMAT_AS_USER = {
    "reward_functions": [{"name": "rollscore.rewards.format:format_reward", "weight": 1.0}]
}


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
    parser.add_argument("--input", type=Path, help="an existing .jsonl or .parquet corpus")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.input or write_corpus(
            Path(scratch) / "rollouts.jsonl", args.prompts, args.samples
        )
        rows = read_rows(path)
    pairs = [(row["ground_truth"], row["response"]) for row in rows]
    print(f"corpus: {len(rows)} rows; rewards: format 0.2 + math 0.8")

    plain, plain_seconds = timed(plain_rewards, pairs)
    config = load_config(CONFIG)
    math_verify_func(["\\boxed{1}"], ["\\boxed{1}"])  # a scoring process started and ready
    scores, batch_seconds = timed(
        score_batch, config, [gt for gt, _ in pairs], [response for _, response in pairs]
    )

    report("plain math-verify loop (main thread)", len(rows), plain_seconds)
    report("rollscore.rewards.score_batch (warmed up)", len(rows), batch_seconds)
    print(f"speed-up: {plain_seconds / batch_seconds:.2f}x")
    differing = sum(a != b for a, b in zip(plain, scores.reward))
    errors = sum(error is not None for error in scores.error)
    print(f"rows with differing rewards: {differing}; score_batch rows with an error: {errors}")

    ground_truths, responses = [gt for gt, _ in pairs], [response for _, response in pairs]
    built_in, built_in_seconds = timed(score_batch, load_config(FORMAT), ground_truths, responses)
    user_config = load_config(FORMAT_AS_USER)
    as_user, user_seconds = timed(score_batch, user_config, ground_truths, responses)
    report("format, built in (this process)", len(rows), built_in_seconds)
    report("format as a user's function (scoring process)", len(rows), user_seconds)
    per_row = 1e6 * (user_seconds - built_in_seconds) / len(rows)
    print(f"a user's function costs {per_row:.0f} us more per row")
    differing_format = sum(a != b for a, b in zip(built_in.reward, as_user.reward))
    print(f"rows whose format rewards differ: {differing_format}")
    return 1 if differing or differing_format else 0


if __name__ == "__main__":
    sys.exit(main())
