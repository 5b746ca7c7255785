"""A synthetic, GRPO-shaped rollout corpus for the tests and the benchmarks.

Each prompt gets ``samples`` responses, as one training step would: a handful of distinct final
answers per prompt, each in several equivalent spellings, some wrong, most tagged, some only
boxed or without tags, with reasoning text around them. Tasks: math (fractions, integers,
radicals, polynomials, intervals, sets, percentages), multiple choice, counting and bounding
boxes. The same arguments always give the same rows.

    python -m bench.corpus --prompts 500 --samples 8 --out rollouts.jsonl
    python -m bench.corpus --prompts 500 --samples 8 --reasoning-chars 4000 --out long.parquet
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROW_GROUP_ROWS = 20_000
"""Rows per Parquet row group, and per batch held in memory while writing."""
REASONING = (
    "First I restate what is asked and write down what is given. ",
    "Let me try a substitution and see whether it simplifies the expression. ",
    "That does not match the constraint, so I go back one step. ",
    "Checking the edge cases separately, nothing changes. ",
    "Now the pieces fit together; I verify the result once more. ",
)
TASK_WEIGHTS = {"math": 6, "choice": 2, "count": 1, "bbox": 1}
STYLE_WEIGHTS = {"tagged": 80, "answer_only": 8, "boxed": 6, "untagged": 6}


@dataclass(frozen=True)
class Problem:
    """One prompt's task: its ground truth, spellings of the right answer, and wrong answers."""

    data_source: str
    ground_truth: str
    right: tuple[str, ...]
    wrong: tuple[str, ...]


def _fraction(rng: random.Random) -> Problem:
    value = Fraction(rng.randint(1, 99), rng.randint(2, 64))
    while value.denominator == 1:
        value = Fraction(rng.randint(1, 99), rng.randint(2, 64))
    p, q = value.numerator, value.denominator
    right = [rf"\frac{{{p}}}{{{q}}}", f"{p}/{q}", rf"\dfrac{{{p}}}{{{q}}}"]
    if 1000 % q == 0:  # a terminating decimal
        right.append(f"{p / q:g}")
    return Problem("synthetic_math", right[0], tuple(right), (f"{p + 1}/{q}", f"{q}/{p}"))


def _integer(rng: random.Random) -> Problem:
    n = rng.randint(-300, 4000)
    return Problem(
        "synthetic_math", str(n), (str(n), f"{n}.0", f"x = {n}"), (str(n + 1), str(n * 2 + 3))
    )


def _radical(rng: random.Random) -> Problem:
    a, b = rng.randint(2, 9), rng.choice((2, 3, 5, 6, 7, 10))
    right = (rf"{a}\sqrt{{{b}}}", rf"\sqrt{{{a * a * b}}}", rf"{a} \cdot \sqrt{{{b}}}")
    return Problem("synthetic_math", right[0], right, (rf"{a}\sqrt{{{b + 1}}}", str(a * b)))


def _polynomial(rng: random.Random) -> Problem:
    r = rng.randint(1, 12)
    right = (f"x^2 + {2 * r}x + {r * r}", f"(x+{r})^2", f"(x + {r})(x + {r})")
    return Problem("synthetic_math", right[0], right, (f"(x-{r})^2", f"x^2 + {r * r}"))


def _interval(rng: random.Random) -> Problem:
    low, high = sorted(rng.sample(range(-25, 26), 2))
    right = (f"[{low}, {high})", f"[{low},{high})", rf"\left[{low}, {high}\right)")
    return Problem("synthetic_math", right[0], right, (f"({low}, {high})", f"[{low}, {high}]"))


def _set(rng: random.Random) -> Problem:
    members = sorted(rng.sample(range(-9, 10), 3))
    listed = ", ".join(map(str, members))
    right = (rf"\{{{listed}\}}", ", ".join(map(str, reversed(members))), listed.replace(" ", ""))
    wrong = (", ".join(map(str, members[:2])), ", ".join(str(m + 1) for m in members))
    return Problem("synthetic_math", right[0], right, wrong)


def _percentage(rng: random.Random) -> Problem:
    p = rng.randint(1, 99)
    return Problem("synthetic_math", rf"{p}\%", (rf"{p}\%", f"{p}%", f"{p} %"), (f"{100 - p}%",))


MATH_KINDS: tuple[Callable[[random.Random], Problem], ...] = (
    _fraction,
    _integer,
    _radical,
    _polynomial,
    _interval,
    _set,
    _percentage,
)


def _choice(rng: random.Random) -> Problem:
    letter = rng.choice("ABCDE")
    wrong = tuple(other for other in "ABCDE" if other != letter)
    return Problem("synthetic_choice", letter, (letter, f"({letter})", letter.lower()), wrong)


def _count(rng: random.Random) -> Problem:
    n = rng.randint(0, 40)
    return Problem("synthetic_count", str(n), (str(n), f" {n} "), (str(n + 1), str(max(0, n - 2))))


def _box(rng: random.Random) -> Problem:
    x1, y1 = rng.uniform(0.0, 0.6), rng.uniform(0.0, 0.6)
    x2, y2 = x1 + rng.uniform(0.1, 0.35), y1 + rng.uniform(0.1, 0.35)

    def spelled(*corners: float) -> str:
        return "[" + ", ".join(f"{value:.3f}" for value in corners) + "]"

    def nudged(value: float) -> float:
        return value + rng.uniform(-0.04, 0.04)

    truth = spelled(x1, y1, x2, y2)
    close = spelled(nudged(x1), nudged(y1), nudged(x2), nudged(y2))
    wrong = (spelled(y1, x1, y2 + 0.3, x2 + 0.3), "[0, 0, 0.1, 0.1]")
    return Problem("synthetic_bbox", truth, (truth, close), wrong)


TASKS: dict[str, Callable[[random.Random], Problem]] = {
    "math": lambda rng: rng.choice(MATH_KINDS)(rng),
    "choice": _choice,
    "count": _count,
    "bbox": _box,
}


def _reasoning(rng: random.Random, chars: int) -> str:
    parts, length = [], 0
    while length < chars:
        sentence = rng.choice(REASONING)
        parts.append(sentence)
        length += len(sentence)
    return "".join(parts)[:chars]


def _response(rng: random.Random, answer: str, style: str, reasoning: str) -> str:
    if style == "tagged":
        return f"<think>{reasoning}</think><answer>{answer}</answer>"
    if style == "answer_only":
        return f"{reasoning}\n<answer>{answer}</answer>"
    if style == "boxed":
        return f"<think>{reasoning}</think> So the answer is \\boxed{{{answer}}}."
    return f"{reasoning} The answer is {answer}."


def rollout_rows(
    prompts: int, samples: int = 8, seed: int = 0, reasoning_chars: int | None = None
) -> Iterator[dict[str, object]]:
    """The corpus's rows, prompt after prompt, ``samples`` rows each.

    Reasoning texts are about 700 characters (log-normally spread), or within half of
    ``reasoning_chars`` either way when it is given, for responses of several kB.
    """
    rng = random.Random(seed)
    tasks, task_weights = list(TASK_WEIGHTS), list(TASK_WEIGHTS.values())
    styles, style_weights = list(STYLE_WEIGHTS), list(STYLE_WEIGHTS.values())
    for p in range(prompts):
        task = rng.choices(tasks, task_weights)[0]
        problem = TASKS[task](rng)
        prompt = f"Problem {p} ({task}): reason, then give the answer inside <answer></answer>."
        answers = rng.sample(problem.right, min(2, len(problem.right)))
        answers += rng.sample(problem.wrong, min(2, len(problem.wrong)))
        skill = rng.random()  # how often the model gives its favourite answer
        for s in range(samples):
            answer = answers[0] if rng.random() < skill else rng.choice(answers)
            style = rng.choices(styles, style_weights)[0]
            if reasoning_chars is None:
                chars = int(rng.lognormvariate(6.5, 0.8))
            else:
                chars = int(reasoning_chars * rng.uniform(0.5, 1.5))
            response = _response(rng, answer, style, _reasoning(rng, chars))
            prompt_length = 40 + len(prompt) // 4
            yield {
                "id": f"p{p}-s{s}",
                "prompt": prompt,
                "response": response,
                "ground_truth": problem.ground_truth,
                "data_source": problem.data_source,
                "is_end": rng.random() > 0.03,
                "prompt_length": prompt_length,
                "generation_length": prompt_length + len(response) // 4,
            }


def write_corpus(
    path: str | Path,
    prompts: int,
    samples: int = 8,
    seed: int = 0,
    reasoning_chars: int | None = None,
) -> Path:
    """Write the corpus to a ``.jsonl`` or ``.parquet`` file, streaming, and return its path."""
    path = Path(path)
    rows = rollout_rows(prompts, samples, seed, reasoning_chars)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            while batch := [row for _, row in zip(range(ROW_GROUP_ROWS), rows)]:
                table = pa.Table.from_pylist(batch)
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def read_rows(path: str | Path) -> list[dict]:
    """Every row of a JSONL or Parquet rollout file, in order."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=8, help="responses per prompt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reasoning-chars", type=int, help="typical reasoning length (default: about 700)"
    )
    parser.add_argument("--out", required=True, help="a .jsonl or .parquet path")
    args = parser.parse_args()
    write_corpus(args.out, args.prompts, args.samples, args.seed, args.reasoning_chars)


if __name__ == "__main__":
    main()
