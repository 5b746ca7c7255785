"""Two-stage (SLL, then LL) LaTeX parsing gives exactly what plain math-verify gives."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # parses every answer in two fresh processes

TRICKY = [
    r"\frac{3}{4}",
    "3/4",
    "0.75",
    r"\dfrac{1}{2}",
    r"3\sqrt{2}",
    r"\sqrt{18}",
    "x^2 + 6x + 9",
    "(x+3)^2",
    r"\left[1, 5\right)",
    "[1, 5)",
    r"\{1, 2, 3\}",
    "3, 2, 1",
    r"45\%",
    "x = 12",
    r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
    r"y = 2x + 1",
    r"x \in (0, 1]",
    r"30^\circ",
    r"\text{(B)}",
    r"\infty",
    r"-\frac{\pi}{3}",
    r"e^{i\pi}",
    r"\log_2 8",
    r"1 < x \leq 3",
    r"\frac{1}{",
    "{{{",
    r"\boxed{5",
    "1,000",
    "3 + ",
    r"\sin^2 x + \cos^2 x",
    "A",
    "(b)",
    r"\sum_{k=1}^{n} k",
    r"\int_0^1 x\,dx",
    r"2 \times 10^{3}",
    r"a \cdot b",
]

PARSE_ALL = """
import json, sys
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
if sys.argv[1] == "two-stage":
    from rewards import two_stage_parsing
    assert two_stage_parsing.install()
texts = json.load(sys.stdin)
gold = (LatexExtractionConfig(),)
prediction = (ExprExtractionConfig(), LatexExtractionConfig())
parsed = [
    [str(parse(t, gold, parsing_timeout=None)), str(parse(t, prediction, parsing_timeout=None))]
    for t in texts
]
matches = [verify(parse(a, gold), parse(b, prediction)) for a, b in zip(texts, texts[1:])]
json.dump([parsed, matches], sys.stdout)
"""


def parse_in_child(mode: str, texts: list[str]) -> list:
    done = subprocess.run(
        [sys.executable, "-c", PARSE_ALL, mode],
        input=json.dumps(texts), capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_two_stage_parsing_matches_plain_math_verify_answer_for_answer(corpus_path):
    rows = [json.loads(line) for line in corpus_path.read_text().splitlines()]
    answers = {
        row["response"].split("<answer>")[1].split("</answer>")[0]
        for row in rows
        if "<answer>" in row["response"]
    }
    golds = {row["ground_truth"] for row in rows}
    texts = [f"\\boxed{{{text}}}" for text in TRICKY + sorted(answers | golds)] + TRICKY

    assert parse_in_child("two-stage", texts) == parse_in_child("plain", texts)
