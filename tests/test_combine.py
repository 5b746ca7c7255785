"""``combine_reward_functions``: weights renormalised, flags combined, bad weights rejected."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rollscore.rewards import (
    combine_reward_functions,
    exact_answer_alphanumeric_reward,
    format_reward,
)

TAGGED_B = "<think>t</think><answer>b</answer>"


def test_weights_are_renormalised():
    combined = combine_reward_functions([(format_reward, 2), (exact_answer_alphanumeric_reward, 6)])
    assert combined("c", TAGGED_B) == (0.25 * 1.0 + 0.75 * 0.0, False)
    assert combined("b", TAGGED_B) == (0.25 * 1.0 + 0.75 * 1.0, True)
    assert combined("b", "<answer>b</answer>") == (0.25 * 0.75 + 0.75 * 1.0, True)
    assert combined("b", "<answer>b</answer>") == (0.9375, True)


def test_weights_already_summing_to_one_are_kept():
    combined = combine_reward_functions(
        [(format_reward, 0.5), (exact_answer_alphanumeric_reward, 0.5)]
    )
    assert combined("b", "<answer>b</answer>") == (0.5 * 0.75 + 0.5 * 1.0, True)


def test_all_none_flags_mean_correct():
    combined = combine_reward_functions([(format_reward, 1.0)])
    assert combined("", "") == (0.0, True)
    assert combined("", "<think>a</think>") == (0.25, True)


def test_any_false_flag_means_incorrect():
    combined = combine_reward_functions(
        [(format_reward, 1.0), (exact_answer_alphanumeric_reward, 1.0)]
    )
    assert combined("a", "<answer>b</answer>") == (0.375, False)


def test_a_zero_weight_function_still_votes_on_correctness():
    combined = combine_reward_functions(
        [(format_reward, 1.0), (exact_answer_alphanumeric_reward, 0.0)]
    )
    assert combined("a", "<answer>b</answer>") == (0.75, False)


def test_the_reward_is_a_float():
    combined = combine_reward_functions([(format_reward, 3)])
    reward, _ = combined("", "<answer>a</answer>")
    assert type(reward) is float


def test_an_exception_in_a_function_propagates():
    def broken_reward(ground_truth: str, response: str) -> tuple[float, None]:
        raise RuntimeError("cannot score")

    combined = combine_reward_functions([(format_reward, 1.0), (broken_reward, 1.0)])
    with pytest.raises(RuntimeError, match="cannot score"):
        combined("a", "<answer>a</answer>")


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, -0.5], "must be finite and >= 0"),
        ([1.0, math.nan], "must be finite and >= 0"),
        ([1.0, math.inf], "must be finite and >= 0"),
        ([-math.inf], "must be finite and >= 0"),
        ([0, 0], "sum to 0"),
        ([0.0], "sum to 0"),
        ([1.0, "1"], "is not a number"),
        ([1.0, None], "is not a number"),
        ([True], "is not a number"),
    ],
)
def test_invalid_weights_raise_at_construction(weights, message):
    with pytest.raises(ValueError, match=message):
        combine_reward_functions([(format_reward, weight) for weight in weights])


def test_an_empty_list_raises():
    with pytest.raises(ValueError, match="at least one"):
        combine_reward_functions([])


@pytest.mark.parametrize(
    "weights",
    [[np.int64(1), np.int64(3)], [np.float32(1), np.float32(3)]],
    ids=["int64", "float32"],
)
def test_numpy_number_weights_are_numbers(weights):
    combined = combine_reward_functions(
        [(format_reward, weights[0]), (exact_answer_alphanumeric_reward, weights[1])]
    )
    assert combined("b", "<answer>b</answer>") == (0.25 * 0.75 + 0.75 * 1.0, True)


def test_weights_too_large_to_sum_raise_value_error():
    with pytest.raises(ValueError, match="weight"):
        combine_reward_functions(
            [(format_reward, 1e308), (exact_answer_alphanumeric_reward, 1e308)]
        )
