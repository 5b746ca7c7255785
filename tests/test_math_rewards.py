"""Math rewards graded by math-verify: ``boxed``, ``math_expression_reward``,
``math_verify_func`` and ``geo3k_reward``."""

from __future__ import annotations

import pytest
from rollscore.rewards import boxed, geo3k_reward, math_expression_reward, math_verify_func


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", r"\boxed{5}"),
        (r"\frac{3}{4}", r"\boxed{\frac{3}{4}}"),
        ("", r"\boxed{}"),
        (r"\boxed{5}", r"\boxed{5}"),
        (r"\boxed{5} + 1", r"\boxed{5} + 1"),
        (r"\boxed 5", r"\boxed{\boxed 5}"),
        (r"x = \boxed{5}", r"\boxed{x = \boxed{5}}"),
    ],
)
def test_boxed(text, expected):
    assert boxed(text) == expected


@pytest.mark.parametrize(
    ("ground_truth", "answer"),
    [
        ("5", "5"),
        (r"\frac{3}{4}", r"\frac{3}{4}"),
        (r"\frac{3}{4}", "3/4"),
        (r"\frac{3}{4}", "0.75"),
        ("0.75", r"\frac{3}{4}"),
        ("12", "12.0"),
        ("x^2+6x+9", "(x+3)^2"),
        (r"\boxed{5}", "5"),
        ("5", r"\boxed{5}"),
        (r"2\sqrt{3}", r"\sqrt{12}"),
    ],
)
def test_equivalent_spellings_are_correct(ground_truth, answer):
    assert math_expression_reward(ground_truth, f"<answer>{answer}</answer>") == (1.0, True)


@pytest.mark.parametrize(
    ("ground_truth", "answer"),
    [
        ("5", "6"),
        (r"\frac{3}{4}", "4/3"),
        ("12", "-12"),
        ("x^2+6x+9", "(x-3)^2"),
        ("5", "hello"),
        ("5", ""),
    ],
)
def test_wrong_answers(ground_truth, answer):
    assert math_expression_reward(ground_truth, f"<answer>{answer}</answer>") == (0.0, False)


@pytest.mark.parametrize("response", ["5", r"\boxed{5}", "<answer>5", "The answer is 5.", ""])
def test_no_tag_scores_zero(response):
    assert math_expression_reward("5", response) == (0.0, False)


def test_custom_tag():
    assert math_expression_reward("5", "<final>5</final>", tag="final") == (1.0, True)
    assert math_expression_reward("5", "<answer>5</answer>", tag="final") == (0.0, False)


def test_math_verify_func():
    assert math_verify_func([boxed("3/4")], [boxed("0.75")]) == (1.0, None)
    assert math_verify_func([boxed("3/4")], [boxed("0.7")]) == (0.0, None)
    assert math_verify_func([boxed(r"\boxed{5}")], [boxed("5")]) == (1.0, None)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"<think>work</think> So the answer is \boxed{5}.", (1.0, True)),
        (r"So the answer is \boxed{5}.", (0.9, True)),
        (r"<think>\boxed{5}</think>", (0.9, True)),
        (r"<think>work</think> So the answer is \boxed{4}.", (0.1, False)),
        (r"\boxed{4}", (0.0, False)),
        ("<think>work</think> 5", (0.0, False)),
        ("", (0.0, False)),
    ],
)
def test_geo3k_with_the_default_format_score(response, expected):
    assert geo3k_reward("5", response) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"<think>work</think> \boxed{5}", (1.0, True)),
        (r"\boxed{5}", (0.75, True)),
        (r"<think>work</think> \boxed{4}", (0.25, False)),
        (r"\boxed{4}", (0.0, False)),
    ],
)
def test_geo3k_with_a_custom_format_score(response, expected):
    assert geo3k_reward("5", response, format_score=0.25) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"<think></think> \boxed{4}, no wait, \boxed{5}", (1.0, True)),
        (r"<think></think> \boxed{5}, no wait, \boxed{4}", (0.1, False)),
    ],
)
def test_geo3k_the_last_boxed_answer_wins(response, expected):
    assert geo3k_reward("5", response) == expected


def test_geo3k_unbalanced_last_box_means_no_answer():
    """The last ``\\boxed{`` never closes: no answer, though the format regex still matches."""
    assert geo3k_reward("5", r"<think></think> \boxed{5} then \boxed{5") == (0.1, False)
    assert geo3k_reward("5", r"\boxed{5") == (0.0, False)


def test_geo3k_grades_equivalent_spellings():
    assert geo3k_reward(r"\frac{3}{4}", r"<think></think> \boxed{0.75}") == (1.0, True)
    assert geo3k_reward("x^2+6x+9", r"<think></think> \boxed{ (x+3)^2 }") == (1.0, True)
