"""``global_post_process_and_metrics`` on hand-built batches with metrics worked out by hand."""

from __future__ import annotations

import pytest
import torch
from rollscore.env import global_post_process_and_metrics


class BatchedDataDict(dict):
    """A dict subclass, as NeMo-RL's batch type is."""


def token_prompt_batch() -> dict:
    """Three prompts as rows of padded token ids (P0 P1 P0 P1 P2 P2), two samples each."""
    return {
        "text": torch.tensor(
            [[5, 6, 0], [7, 8, 9], [5, 6, 0], [7, 8, 9], [4, 0, 0], [4, 0, 0]], dtype=torch.long
        ),
        "rewards": torch.tensor([1.0, 0.5, 0.0, 1.0, 1.0, 0.0]),
        "is_end": torch.tensor([True, True, True, False, False, True]),
        "generation_lengths": torch.tensor([10, 20, 30, 40, 50, 60]),
        "prompt_lengths": torch.tensor([3, 4, 3, 4, 2, 2]),
    }


def test_token_prompts_masking_written_back_and_seed_metrics():
    batch = token_prompt_batch()

    returned, metrics = global_post_process_and_metrics(batch)

    assert returned is batch
    # masked: [1.0, 0.5, 0.0, 0.0, 0.0, 0.0]; P2's only reward did not end properly
    assert batch["rewards"].tolist() == [1.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    assert metrics == {
        "accuracy": pytest.approx(1.5 / 6),
        "pass@samples_per_prompt": pytest.approx(2 / 3),
        "fraction_of_samples_properly_ended": pytest.approx(4 / 6),
        "num_problems_in_batch": 6,
        "generation_lengths": pytest.approx(35.0),
        "prompt_lengths": pytest.approx(3.0),
        "correct_solution_generation_lengths": pytest.approx(10 - 3),
        # no "correct" entry: nothing is said of correctness, so no figure made from it
    }


def test_correctness_comes_from_the_correct_entry_not_from_the_rewards():
    batch = token_prompt_batch()
    batch["correct"] = [False, True, False, True, True, False]  # a reward of 0.5 may be correct

    _, metrics = global_post_process_and_metrics(batch)

    # correct and ended: [F, T, F, F, F, F]; n = 2 per prompt, c = 1, 0, 0 (P0, P1, P2 -> P1 c=1)
    assert metrics["fraction_correct"] == pytest.approx(1 / 6)
    assert metrics["pass@1"] == pytest.approx((0 + 1 / 2 + 0) / 3)
    assert metrics["pass@2"] == pytest.approx(1 / 3)


def string_prompt_batch() -> BatchedDataDict:
    """Prompts as strings: A has 4 samples, B 2, C 1; with correctness and data sources."""
    return BatchedDataDict(
        text=["A", "A", "B", "A", "C", "B", "A"],
        data_source=["math", "math", "geo", "math", "geo", "geo", "math"],
        rewards=torch.tensor([0.2, 1.0, 0.9, 0.0, 1.0, 0.2, 0.95]),
        correct=torch.tensor([False, True, True, False, True, False, True]),
        is_end=torch.tensor([1, 1, 1, 1, 1, 1, 0]),
        generation_lengths=torch.tensor([100] * 7),
        prompt_lengths=torch.tensor([10] * 7),
    )


def test_string_prompts_correctness_unbiased_pass_at_k_and_data_sources():
    batch = string_prompt_batch()

    returned, metrics = global_post_process_and_metrics(batch)

    assert returned is batch and isinstance(returned, BatchedDataDict)
    assert batch["rewards"].tolist() == pytest.approx([0.2, 1.0, 0.9, 0.0, 1.0, 0.2, 0.0])
    # correct and ended: [F, T, T, F, T, F, F] -> A: n=4 c=1, B: n=2 c=1, C: n=1 c=1
    assert metrics == {
        "accuracy": pytest.approx(3.3 / 7),
        "pass@samples_per_prompt": pytest.approx(1.0),
        "fraction_of_samples_properly_ended": pytest.approx(6 / 7),
        "num_problems_in_batch": 7,
        "generation_lengths": pytest.approx(100.0),
        "prompt_lengths": pytest.approx(10.0),
        "correct_solution_generation_lengths": pytest.approx(90.0),
        "fraction_correct": pytest.approx(3 / 7),
        "pass@1": pytest.approx((1 / 4 + 1 / 2 + 1) / 3),
        # A: 1 - C(3,2)/C(4,2) = 0.5; B: 1 - C(1,2)/C(2,2) = 1; C has fewer than 2 samples
        "pass@2": pytest.approx((0.5 + 1.0) / 2),
        # A: 1 - C(3,4)/C(4,4) = 1
        "pass@4": pytest.approx(1.0),
        "math/num_problems_in_batch": 4,
        "math/accuracy": pytest.approx((0.2 + 1.0 + 0.0 + 0.0) / 4),
        "math/fraction_correct": pytest.approx(1 / 4),
        "math/pass@1": pytest.approx(1 / 4),
        "math/pass@2": pytest.approx(0.5),
        "math/pass@4": pytest.approx(1.0),
        "geo/num_problems_in_batch": 3,
        "geo/accuracy": pytest.approx((0.9 + 1.0 + 0.2) / 3),
        "geo/fraction_correct": pytest.approx(2 / 3),
        "geo/pass@1": pytest.approx((1 / 2 + 1) / 2),
        "geo/pass@2": pytest.approx(1.0),
    }


def test_no_solved_sample_gives_zero_correct_solution_length():
    batch = token_prompt_batch()
    batch["rewards"] = torch.tensor([0.5, 0.0, 0.0, 0.0, 0.0, 0.0])

    _, metrics = global_post_process_and_metrics(batch)

    assert metrics["correct_solution_generation_lengths"] == 0
    assert metrics["pass@samples_per_prompt"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "batch",
    [
        {
            "text": torch.empty((0, 4), dtype=torch.long),
            "rewards": torch.empty(0),
            "is_end": torch.empty(0, dtype=torch.bool),
            "generation_lengths": torch.empty(0, dtype=torch.long),
            "prompt_lengths": torch.empty(0, dtype=torch.long),
        },
        {},
    ],
    ids=["empty tensors", "empty mapping"],
)
def test_empty_batch_gives_zeros(batch):
    returned, metrics = global_post_process_and_metrics(batch)

    assert returned is batch
    assert metrics == {
        "accuracy": 0.0,
        "pass@samples_per_prompt": 0.0,
        "fraction_of_samples_properly_ended": 0.0,
        "num_problems_in_batch": 0,
        "generation_lengths": 0.0,
        "prompt_lengths": 0.0,
        "correct_solution_generation_lengths": 0,
    }


def test_prompts_must_match_the_samples():
    batch = token_prompt_batch()
    batch["text"] = batch["text"][:4]

    with pytest.raises(ValueError, match="4 entries for 6 samples"):
        global_post_process_and_metrics(batch)


def test_majority_at_k_from_the_extracted_answers():
    batch = string_prompt_batch()
    batch["answers"] = ["5", "7", "12", "5", "x", None, " 7 "]

    _, metrics = global_post_process_and_metrics(batch)

    # A votes 5, 7, 5, " 7 " (the same vote as 7): 7 is right (sample 1), 5 wrong; 2 against 2.
    # maj@1 = 2/4; maj@2 over the 6 pairs: {7, 7} 1, {5, 5} 0, four ties 1/2 each -> 3/6;
    # maj@4: a tie -> 1/2. B votes 12 (right) and abstains: maj@1 1/2, maj@2 1. C: maj@1 1.
    majorities = {key: value for key, value in metrics.items() if "maj@" in key}
    assert majorities == {
        "maj@1": pytest.approx((1 / 2 + 1 / 2 + 1) / 3),
        "maj@2": pytest.approx((1 / 2 + 1) / 2),
        "maj@4": pytest.approx(1 / 2),
        "math/maj@1": pytest.approx(1 / 2),
        "math/maj@2": pytest.approx(1 / 2),
        "math/maj@4": pytest.approx(1 / 2),
        "geo/maj@1": pytest.approx((1 / 2 + 1) / 2),
        "geo/maj@2": pytest.approx(1.0),
    }


def test_answers_must_match_the_samples():
    batch = string_prompt_batch()
    batch["answers"] = ["5"]
    with pytest.raises(ValueError, match="answers"):
        global_post_process_and_metrics(batch)
