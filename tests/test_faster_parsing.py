"""The scoring process's accelerations of math-verify's parsing (two-stage SLL-then-LL LaTeX
parsing, sympy's namespace built once) give exactly what plain math-verify gives.

On library versions they do not cover, the accelerations stay off and their tests are skipped;
with ``ROLLSCORE_REQUIRE_ACCELERATIONS=1`` (as CI sets, installing the covered versions) those
tests fail instead, so an acceleration never goes off unnoticed."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from adversarial_latex import GOLDS, adversarial_answers, deep_answers, settled_in_sympy
from rollscore.rewards.math_answers import boxed
from rollscore.rewards.verifier import sympy_namespace, two_stage_parsing
from rollscore.rewards.verifier.stack import ACCELERATIONS, verifier_stack

MATH_VERIFY_CASES = Path(__file__).parent / "data" / "math_verify_cases.json"
"""(gold, prediction) pairs and lone answers from math-verify's own tests."""
ADVERSARIAL_ANSWERS = 5000
DEEP_ANSWERS = 40
ADVERSARIAL_PAIRS = 600
"""Adversarial answers also verified against a simple gold and against the previous answer."""
SHOWN = 40
"""Divergences listed in a failure message."""
PROCESS_CHUNKS = 2
"""Parts the inputs are cut into, each parsed plain and accelerated in processes of its own."""

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

FORMER_DIVERGENCES = [
    r"\vec e",  # lexer errors: SLL-then-LL once parsed what the lexer skipped
    r"\foo 2",
    r"\sqrt{\veck}",
    r"1 = \zzz = x = 0",
    "|y^{3}|",  # SLL bails out, LL parses
    r"\sqrt{x^2+12}",
    r"\sin " * 60 + "x",  # LL overflows the stack, SLL would not
    r"\frac{1}{2}",
]


def require_covered_versions(*accelerations) -> None:
    """Skip the test unless the accelerations are on with these library versions; fail
    instead of skipping when ``ROLLSCORE_REQUIRE_ACCELERATIONS=1``."""
    off = [module.__name__ for module in accelerations if not module.versions_verified()]
    if not off:
        return
    said = f"{', '.join(off)} off on {verifier_stack()['versions']}"
    if os.environ.get("ROLLSCORE_REQUIRE_ACCELERATIONS") == "1":
        pytest.fail(f"{said}, where the accelerations are required")
    pytest.skip(said)


@pytest.fixture
def two_stage_versions():
    require_covered_versions(two_stage_parsing)


@pytest.fixture
def sympy_versions():
    require_covered_versions(sympy_namespace)


@pytest.fixture
def restored_latex2sympy(monkeypatch):
    """latex2sympy's converter, its parser factory put back as it was after the test."""
    from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

    monkeypatch.setattr(_Latex2Sympy, "create_parser", _Latex2Sympy.create_parser)
    return _Latex2Sympy


def _latex2sympy_outcome(latex: str) -> str:
    from latex2sympy2_extended.latex2sympy2 import latex2sympy
    from sympy import srepr

    try:
        return srepr(latex2sympy(latex))
    except Exception as error:  # the error is the outcome to compare
        return f"raised {type(error).__name__}: {error}"


def test_former_divergences_parse_as_plain_latex2sympy_parses_them(
    restored_latex2sympy, two_stage_versions
):
    plain = [_latex2sympy_outcome(latex) for latex in FORMER_DIVERGENCES]
    assert two_stage_parsing.install()
    assert [_latex2sympy_outcome(latex) for latex in FORMER_DIVERGENCES] == plain


def test_install_is_idempotent(restored_latex2sympy, two_stage_versions):
    assert two_stage_parsing.install()
    installed = restored_latex2sympy.create_parser
    assert two_stage_parsing.install()
    assert restored_latex2sympy.create_parser is installed


@pytest.mark.parametrize(
    "package, version",
    [("antlr4-python3-runtime", "4.11.1"), ("latex2sympy2_extended", "1.10.2")],
)
def test_install_changes_nothing_on_unverified_versions(
    restored_latex2sympy, monkeypatch, package, version
):
    installed_version = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: version if name == package else installed_version(name)
    )
    plain = restored_latex2sympy.create_parser
    assert not two_stage_parsing.install()
    assert restored_latex2sympy.create_parser is plain


SYMPIFIED = [
    "12",
    "-3.25",
    "1e400",
    "0.1",
    "7/3",
    "x**2 + 6*x + 9",
    "pi*E*I",
    "oo",
    "max(2, 3) + min(x, 4)",
    "Abs(-2) + factorial(5) + sqrt(18)",
    "Interval(0, 1) | FiniteSet(3)",
    "lambda: 1",
    "len",
    "3 +",
    "(((",
    "x = 1",
]
"""Strings for sympy's parser: numbers as latex2sympy hands them over, names from sympy and
from Python's built-ins, and strings it refuses."""


@pytest.fixture
def restored_parse_expr(monkeypatch):
    """sympy's and math-verify's ``parse_expr`` put back as they were after the test."""
    import math_verify.parser
    import sympy.parsing.sympy_parser as sympy_parser

    monkeypatch.setattr(sympy_parser, "parse_expr", sympy_parser.parse_expr)
    monkeypatch.setattr(math_verify.parser, "parse_expr", math_verify.parser.parse_expr)
    return sympy_parser


def _sympified(text: str, evaluate: bool = True) -> str:
    from sympy import srepr, sympify

    try:
        return srepr(sympify(text, evaluate=evaluate))
    except Exception as error:  # the error is the outcome to compare
        return f"raised {type(error).__name__}: {error}"


def test_sympify_gives_what_it_gave_with_the_namespace_built_once(
    restored_parse_expr, sympy_versions
):
    plain = [_sympified(text, evaluate) for text in SYMPIFIED for evaluate in (True, False)]
    assert sympy_namespace.install()
    assert [_sympified(t, evaluate) for t in SYMPIFIED for evaluate in (True, False)] == plain


def test_a_call_that_changes_its_namespace_changes_no_later_call(
    restored_parse_expr, sympy_versions
):
    from sympy import Symbol

    assert sympy_namespace.install()
    parse_expr = restored_parse_expr.parse_expr
    assert parse_expr("globals().update(x=5, pi=3)") is None
    assert parse_expr("x") == Symbol("x")
    assert str(parse_expr("pi")) == "pi"


def test_math_verify_parses_plain_expressions_with_the_same_parser(
    restored_parse_expr, sympy_versions
):
    import math_verify.parser

    assert sympy_namespace.install()
    installed = restored_parse_expr.parse_expr
    assert math_verify.parser.parse_expr is installed
    assert sympy_namespace.install()
    assert restored_parse_expr.parse_expr is installed


def test_namespace_stays_per_call_on_unverified_sympy(restored_parse_expr, monkeypatch):
    installed_version = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: "1.13.3" if name == "sympy" else installed_version(name)
    )
    plain = restored_parse_expr.parse_expr
    assert not sympy_namespace.install()
    assert restored_parse_expr.parse_expr is plain


def _inputs(corpus_path: Path) -> dict[str, list]:
    """Every answer as the rewards send it to math-verify: raw (``math_verify_func``) and
    boxed (the math rewards), and the (gold, prediction) pairs to verify, as text indices."""
    cases = json.loads(MATH_VERIFY_CASES.read_text())
    rows = [json.loads(line) for line in corpus_path.read_text().splitlines()]
    corpus_pairs = [
        (row["ground_truth"], row["response"].split("<answer>")[1].split("</answer>")[0])
        for row in rows
        if "<answer>" in row["response"]
    ]
    answers = adversarial_answers(ADVERSARIAL_ANSWERS, seed=0)
    strings = [
        *TRICKY,
        *GOLDS,
        *(text for pair in corpus_pairs for text in pair),
        *(case[key] for case in cases for key in ("gold", "prediction")),
        *answers,
        *deep_answers(DEEP_ANSWERS, seed=0),  # parsed only: sympy can compare them for hours
    ]
    texts = list(dict.fromkeys(text for string in strings for text in (string, boxed(string))))
    verified = list(filter(settled_in_sympy, answers[:ADVERSARIAL_PAIRS]))
    boxed_pairs = [
        *itertools.pairwise(TRICKY),
        *corpus_pairs,
        *((GOLDS[i % len(GOLDS)], answer) for i, answer in enumerate(verified)),
        *itertools.pairwise(verified),
    ]
    pairs = [(case["gold"], case["prediction"]) for case in cases]
    pairs += [(boxed(gold), boxed(prediction)) for gold, prediction in boxed_pairs]
    index = {text: i for i, text in enumerate(texts)}
    return {"texts": texts, "pairs": [[index[g], index[p]] for g, p in dict.fromkeys(pairs)]}


def _chunks(inputs: dict[str, list], count: int) -> list[dict[str, list]]:
    """``inputs`` cut into ``count`` whole parts: each with its share of the pairs, every text
    they name, and its share of the other texts."""
    texts, pairs = inputs["texts"], inputs["pairs"]
    paired = {index for pair in pairs for index in pair}
    alone = [index for index in range(len(texts)) if index not in paired]
    chunks = []
    for chunk in range(count):
        own_pairs = pairs[chunk::count]
        named = {index for pair in own_pairs for index in pair}
        wanted = sorted(named.union(alone[chunk::count]))
        position = {index: place for place, index in enumerate(wanted)}
        chunks.append(
            {
                "texts": [texts[index] for index in wanted],
                "pairs": [[position[gold], position[prediction]] for gold, prediction in own_pairs],
            }
        )
    return chunks


def _outcomes_in_fresh_processes(
    chunks: list[dict[str, list]], folder: Path
) -> list[dict[str, dict]]:
    """Per chunk, its plain and scoring-process outcomes, all computed at the same time, each
    in a fresh process with files in ``folder`` for its input and output (a pipe nobody reads
    yet would stall it): the plain ones take longest, so every core stays busy."""
    environment = dict(os.environ, PYTHONHASHSEED="0")  # the same order for printed sets
    script = str(Path(__file__).parent / "parse_outcomes.py")
    runs = []
    for number, chunk in enumerate(chunks):
        request = folder / f"chunk-{number}.json"
        request.write_text(json.dumps(chunk))
        for mode in ("plain", "scoring-process"):
            output, errors = folder / f"{mode}-{number}.json", folder / f"{mode}-{number}.log"
            with request.open() as stdin, output.open("w") as stdout, errors.open("w") as stderr:
                child = subprocess.Popen(
                    [sys.executable, script, mode],
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    env=environment,
                )
            runs.append((number, mode, child, output, errors))
    outcomes: list[dict[str, dict]] = [{} for _ in chunks]
    for number, mode, child, output, errors in runs:
        assert child.wait(timeout=900) == 0, f"{mode}: {errors.read_text()}"
        outcomes[number][mode] = json.loads(output.read_text())
    return outcomes


def _divergences(inputs: dict[str, list], plain: dict, faster: dict) -> list[str]:
    """Every difference between the two runs, one line each."""
    found = []
    for config in ("gold", "prediction"):
        found += [
            f"parse({text!r}, {config}): {a!r} != {b!r}"
            for text, a, b in zip(inputs["texts"], plain[config], faster[config])
            if a != b
        ]
    calls = plain["latex2sympy_calls"], faster["latex2sympy_calls"]
    found += [f"latex2sympy({a[0]!r}): {a[1]!r} != {b[1]!r}" for a, b in zip(*calls) if a != b]
    if len(calls[0]) != len(calls[1]):
        found.append(f"latex2sympy calls: {len(calls[0])} != {len(calls[1])}")
    texts = inputs["texts"]
    found += [
        f"verify({texts[i]!r}, {texts[j]!r}): {a!r} != {b!r}"
        for (i, j), a, b in zip(inputs["pairs"], plain["verdicts"], faster["verdicts"])
        if a != b
    ]
    return found


@pytest.mark.slow  # two processes per chunk parse ~11,000 texts in all
def test_scoring_process_parsing_matches_plain_math_verify_answer_for_answer(corpus_path, tmp_path):
    require_covered_versions(*ACCELERATIONS.values())
    chunks = _chunks(_inputs(corpus_path), PROCESS_CHUNKS)
    divergences = []
    for chunk, outcomes in zip(chunks, _outcomes_in_fresh_processes(chunks, tmp_path)):
        plain, faster = outcomes["plain"], outcomes["scoring-process"]
        assert plain["versions"] == faster["versions"]
        assert not any(plain["installed"].values())
        assert faster["installed"] == dict.fromkeys(ACCELERATIONS, True)
        # Equal parses give equal verdicts (verify depends on nothing else), so comparing
        # verdicts on a sample of pairs only checks the whole path end to end.
        assert "timed out" not in plain["verdicts"]
        divergences += _divergences(chunk, plain, faster)
    shown = "\n".join(divergences[:SHOWN])
    assert not divergences, f"{len(divergences)} divergences on {plain['versions']}:\n{shown}"
