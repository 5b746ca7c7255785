"""pass@k and maj@k of one prompt's samples, against enumeration of every k-subset."""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollscore.pipeline.estimators import (
    majority_at_k,
    majority_at_k_sums,
    pass_at_k,
    signature,
    vote_key,
)

SAMPLES = st.lists(
    st.tuples(st.sampled_from(["3/4", " 3/4 ", "0.75", "4/3", "7", None, ""]), st.booleans()),
    min_size=1,
    max_size=9,
)


def enumerated_majority(samples: list[tuple[str | None, bool]], k: int) -> Fraction:
    """maj@k by drawing every k-subset and voting, ties shared evenly."""
    correct_answers = {vote_key(a) for a, ok in samples if ok and vote_key(a) is not None}
    won, subsets = Fraction(0), 0
    for subset in combinations(samples, k):
        subsets += 1
        votes: dict[str, int] = {}
        for answer, _ in subset:
            if vote_key(answer) is not None:
                votes[vote_key(answer)] = votes.get(vote_key(answer), 0) + 1
        if votes:
            most = max(votes.values())
            tied = [answer for answer, count in votes.items() if count == most]
            won += Fraction(sum(answer in correct_answers for answer in tied), len(tied))
    return won / subsets


@settings(max_examples=300, deadline=None)
@given(SAMPLES, st.data())
def test_majority_at_k_equals_voting_over_every_k_subset(samples, data):
    k = data.draw(st.integers(min_value=1, max_value=len(samples)))
    keyed = [(vote_key(answer), correct) for answer, correct in samples]

    assert majority_at_k(signature(keyed), k) == pytest.approx(
        float(enumerated_majority(samples, k)), abs=1e-12
    )


def test_majority_by_hand():
    # 8 samples: "5" four times (right), "6" three times (wrong), one without an answer
    votes = [("5", True)] * 4 + [("6", False)] * 3 + [(None, False)]
    sign = signature(votes)

    assert sign == (1, ((3, False), (4, True)))
    assert majority_at_k(sign, 8) == 1.0  # 4 votes beat 3
    assert majority_at_k(sign, 1) == pytest.approx(4 / 8)  # one draw: right half the time
    # two draws: both "5" (6 ways), "5" + nothing (4 ways), "5" + "6" tie (12 ways, half)
    assert majority_at_k(sign, 2) == pytest.approx((6 + 4 + 12 / 2) / 28)


def test_a_tie_between_a_right_and_a_wrong_answer_counts_half_and_abstentions_never_win():
    assert majority_at_k(signature([("a", True), ("b", False)]), 2) == 0.5
    assert majority_at_k(signature([(None, False), (None, False)]), 2) == 0.0
    assert majority_at_k(signature([("a", True), (None, False)]), 2) == 1.0


def test_vote_keys_trim_and_collapse_whitespace_only():
    assert vote_key("  3 /  4\n") == "3 / 4"
    assert vote_key("3/4") != vote_key("0.75")  # no mathematical equivalence
    assert vote_key("A") != vote_key("a")
    assert vote_key("   ") is None and vote_key(None) is None


def test_sums_weigh_each_signature_by_its_prompts():
    right = signature([("1", True)] * 2)
    split = signature([("1", True), ("2", False)])
    sums = majority_at_k_sums([(right, 3), (split, 1)])

    assert sums == {1: (3 * 1.0 + 0.5, 4), 2: (3 * 1.0 + 0.5, 4)}


def test_pass_at_k_by_hand():
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)
    assert pass_at_k(8, 0, 8) == 0.0 and pass_at_k(8, 8, 1) == 1.0
