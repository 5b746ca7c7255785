"""``format_reward``: 0.25 for a think pair, 0.75 for an answer pair, correctness None."""

from __future__ import annotations

import pytest
from rollscore.rewards import format_reward


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("", (0.0, None)),
        ("just text", (0.0, None)),
        ("<think>a</think>", (0.25, None)),
        ("<answer>a</answer>", (0.75, None)),
        ("<think>a</think><answer>b</answer>", (1.0, None)),
        ("<answer>b</answer> then <think>a</think>", (1.0, None)),
        ("<think></think><answer></answer>", (1.0, None)),
        ("<think>\nmulti\nline\n</think>\n<answer>\n5\n</answer>", (1.0, None)),
        ("<think>a<answer>b", (0.0, None)),
        ("<think>a</think><answer>b", (0.25, None)),
        ("<THINK>a</THINK><ANSWER>b</ANSWER>", (0.0, None)),
    ],
)
def test_format_reward(response, expected):
    assert format_reward("", response) == expected


def test_ground_truth_is_ignored():
    response = "<think>a</think><answer>b</answer>"
    assert format_reward("anything", response) == format_reward("", response) == (1.0, None)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<reasoning>r</reasoning><final>f</final>", (1.0, None)),
        ("<reasoning>r</reasoning>", (0.25, None)),
        ("<final>f</final>", (0.75, None)),
        ("<think>r</think><answer>f</answer>", (0.0, None)),
    ],
)
def test_custom_tag_names(response, expected):
    assert format_reward("", response, think_tag="reasoning", answer_tag="final") == expected


@pytest.mark.parametrize(
    "response",
    ["", "<think>a</think>", "<answer>a</answer>", "<think>a</think><answer>a</answer>"],
)
def test_correctness_is_always_none(response):
    _, correct = format_reward("a", response)
    assert correct is None
