"""Exact-answer rewards: equality of the lower-cased alphanumeric characters only."""

from __future__ import annotations

import pytest
from rollscore.rewards import (
    exact_answer_alphanumeric_reward,
    exact_answer_alphanumeric_with_fallback_reward,
)


@pytest.mark.parametrize(
    ("ground_truth", "response", "expected"),
    [
        ("a", "<answer>(A)</answer>", (1.0, True)),
        ("A", "<answer> a. </answer>", (1.0, True)),
        ("New York", "<answer>new-york!</answer>", (1.0, True)),
        ("12", "<answer>1 2</answer>", (1.0, True)),
        ("B", "<answer>A</answer>", (0.0, False)),
        ("ab", "<answer>a</answer>", (0.0, False)),
        ("Ünïcödé", "<answer>ünïcödé</answer>", (1.0, True)),
        ("Ünïcödé", "<answer>unicode</answer>", (0.0, False)),
        ("١٢٣", "<answer>١٢٣.</answer>", (1.0, True)),
        ("123", "<answer>١٢٣</answer>", (0.0, False)),
        ("日本", "<answer>「日本」。</answer>", (1.0, True)),
        ("日本", "<answer>中国</answer>", (0.0, False)),
    ],
)
def test_exact_answer_alphanumeric_reward(ground_truth, response, expected):
    assert exact_answer_alphanumeric_reward(ground_truth, response) == expected


@pytest.mark.parametrize("response", ["(A)", "a", "The answer is a", "", "<answer>a"])
def test_no_answer_tag_scores_zero(response):
    assert exact_answer_alphanumeric_reward("a", response) == (0.0, False)


@pytest.mark.parametrize(
    ("ground_truth", "response", "expected"),
    [
        ("...", "<answer></answer>", (1.0, True)),
        ("", "<answer>?!</answer>", (1.0, True)),
        ("x", "<answer></answer>", (0.0, False)),
        ("", "<answer>x</answer>", (0.0, False)),
    ],
)
def test_empty_tag_against_ground_truth_empty_after_cleaning(ground_truth, response, expected):
    assert exact_answer_alphanumeric_reward(ground_truth, response) == expected


def test_custom_answer_tag():
    assert exact_answer_alphanumeric_reward("c", "<final>C</final>", answer_tag="final") == (
        1.0,
        True,
    )
    assert exact_answer_alphanumeric_reward("c", "<answer>C</answer>", answer_tag="final") == (
        0.0,
        False,
    )


@pytest.mark.parametrize(
    ("ground_truth", "response", "expected"),
    [
        ("a", "(A)", (1.0, True)),
        ("a", "The answer is (A)", (0.0, False)),
        ("the answer is a", "The answer is (A).", (1.0, True)),
        ("日本", "日本。", (1.0, True)),
        ("...", "?!", (1.0, True)),
        ("", "", (1.0, True)),
        ("a", "<answer>(A)</answer> trailing words", (1.0, True)),
        ("b", "<answer>(A)</answer> b", (0.0, False)),
        ("a", "<answer>a", (0.0, False)),
    ],
)
def test_with_fallback_compares_the_whole_response_only_without_a_tag(
    ground_truth, response, expected
):
    assert exact_answer_alphanumeric_with_fallback_reward(ground_truth, response) == expected


def test_with_fallback_and_a_custom_tag():
    response = "<final>(D)</final> not d"
    assert exact_answer_alphanumeric_with_fallback_reward("d", response, answer_tag="final") == (
        1.0,
        True,
    )
    whole = "finaldfinalnotd"  # default tag absent: the whole response, tags included
    assert exact_answer_alphanumeric_with_fallback_reward(whole, response) == (1.0, True)
