"""What verifying a question on more than one worker costs an offline run: the most that
verifying each distinct question once across the cluster could save.

Each worker keeps its own memo, so a question met in partitions on two workers is verified
twice. Here the corpus's partitions are dealt to the workers in turn, as a run's scheduler
hands them out, and each distinct question's verification is timed alone (``score_batch`` of
its first row, in corpus order, in a fresh process with one scoring process, so that a group's
questions still share a parsed ground truth). Prints how many questions more than one worker
meets, what they cost against the average question, and the seconds a core would save were
each verified once.

    python -m bench.bench_repeats --prompts 8000 --samples 8 --workers 2
    python -m bench.bench_repeats --input rollouts.jsonl --workers 2
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rollscore.pipeline.inputs.plan import auto_partition_rows
from rollscore.rewards import load_config, score_batch
from rollscore.rewards.registry import REWARDS
from rollscore.rewards.verifier.pool import scoring_processes

from bench.bench_floor import Pair, corpus_of, corpus_pairs, corpus_parser, in_fresh_process
from bench.plain_scoring import CONFIG

Met = tuple[dict[object, Pair], dict[object, set[int]], int]
"""Each distinct question's first row, the workers that meet it, and the rows per partition."""


def questions_by_worker(corpus: Path, workers: int, partition_rows: int | None) -> Met:
    """Who meets which question (:data:`Met`), the partitions dealt to the workers in turn."""
    rows = sum(1 for _ in corpus_pairs(corpus))
    partition_rows = partition_rows or auto_partition_rows(rows, workers)
    asks = REWARDS["math_expr"].question_of({})
    first: dict[object, Pair] = {}
    met: dict[object, set[int]] = defaultdict(set)
    for index, pair in enumerate(corpus_pairs(corpus)):
        question = asks(*pair)
        if question is not None:
            first.setdefault(question, pair)
            met[question].add(index // partition_rows % workers)
    return first, met, partition_rows


def seconds_each(pairs: list[Pair]) -> list[float]:
    """Seconds ``score_batch`` takes on each pair alone, one after the other, once its scoring
    process has answered. Run it in a fresh process, whose memo remembers nothing yet."""
    scoring_processes.prestart(1)
    config = load_config(CONFIG)
    score_batch(config, ["0"], ["<answer>1</answer>"])
    seconds = []
    for ground_truth, response in pairs:
        started = time.perf_counter()
        score_batch(config, [ground_truth], [response])
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = corpus_parser(__doc__)
    parser.add_argument("--partition-rows", type=int, help="default: as rollscore score picks")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        corpus = corpus_of(args, scratch)
        first, met, partition_rows = questions_by_worker(corpus, args.workers, args.partition_rows)
    questions = list(first)
    seconds = in_fresh_process(seconds_each, [first[question] for question in questions])
    repeated = [
        (len(met[question]) - 1, spent)
        for question, spent in zip(questions, seconds)
        if len(met[question]) > 1
    ]
    extra = sum(times for times, _ in repeated)
    extra_seconds = sum(times * spent for times, spent in repeated)
    print(f"{len(questions):,} distinct questions, partitions of {partition_rows:,} rows dealt "
          f"to {args.workers} workers in turn")  # fmt: skip
    print(f"met on more than one worker: {len(repeated):,} questions, "
          f"{extra:,} verifications more than the distinct ones")  # fmt: skip
    print(f"each alone: {1000 * sum(seconds) / len(seconds):.2f} ms on average, "
          f"{1000 * sum(spent for _, spent in repeated) / max(1, len(repeated)):.2f} ms "
          f"for those met more than once")  # fmt: skip
    print(f"verifying each once across the cluster would save {extra_seconds:.2f} s of "
          f"{sum(seconds):.2f}: {extra_seconds / args.workers:.2f} s a core")  # fmt: skip


if __name__ == "__main__":
    main()
