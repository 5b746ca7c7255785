"""``bbox_giou_reward``: generalised IoU of ``[x1, y1, x2, y2]`` boxes, per the SPEC formula.

For each box: area ``(x2-x1)*(y2-y1)``; union ``max(1e-3, ag + ar - ai)``; ``iou = ai / union``;
hull ``max(1e-3, enclosing area)``; ``giou = iou - (hull - union) / hull``.
"""

from __future__ import annotations

import math

import pytest
from rollscore.rewards import bbox_giou_reward


def answer(box: str) -> str:
    return f"<answer>{box}</answer>"


@pytest.mark.parametrize(
    ("ground_truth", "predicted"),
    [
        ("[0, 0, 1, 1]", "[0, 0, 1, 1]"),
        ("[0.1, 0.2, 0.5, 0.6]", "[0.1,0.2,0.5,0.6]"),
        ("[0.1, 0.2, 0.5, 0.6]", " [ 0.1 , 0.2 , 0.5 , 0.6 ] "),
        ("0.1, 0.2, 0.5, 0.6", "[0.1, 0.2, 0.5, 0.6]"),
        ("[0.1, 0.2, 0.5, 0.6]", "0.1, 0.2, 0.5, 0.6"),
        ("[10, 20, 300, 400]", "[1e1, 2e1, 3e2, 4e2]"),
    ],
)
def test_identical_boxes(ground_truth, predicted):
    assert bbox_giou_reward(ground_truth, answer(predicted)) == (1.0, True)


def test_contained_box():
    """Inside the gold box: intersection 0.75 = union 1 = hull 1, so GIoU = IoU = 0.75."""
    assert bbox_giou_reward("[0, 0, 1, 1]", answer("[0, 0, 1, 0.75]")) == (0.75, True)


def test_partial_overlap():
    # gold area 4, predicted area 4, intersection 1, union 7, hull 3 x 3 = 9
    expected = 1 / 7 - (9 - 7) / 9
    assert bbox_giou_reward("[0, 0, 2, 2]", answer("[1, 1, 3, 3]")) == (expected, False)


def test_disjoint_boxes_give_a_negative_giou():
    # areas 1 and 1, intersection 0, union 2, hull 3 x 1 = 3: giou = 0 - (3 - 2) / 3
    expected = 0.0 - (3.0 - 2.0) / 3.0
    assert expected == pytest.approx(-1 / 3)
    assert bbox_giou_reward("[0, 0, 1, 1]", answer("[2, 0, 3, 1]")) == (expected, False)


def test_far_disjoint_boxes_approach_minus_one():
    # areas 1 and 1, intersection 0, union 2, hull 10 x 10 = 100
    expected = 0.0 - (100.0 - 2.0) / 100.0
    assert bbox_giou_reward("[0, 0, 1, 1]", answer("[9, 9, 10, 10]")) == (expected, False)


def test_zero_area_prediction():
    # predicted area 0, intersection 0, union 1, hull 1: giou = 0 - 0 / 1
    assert bbox_giou_reward("[0, 0, 1, 1]", answer("[0.5, 0.5, 0.5, 0.5]")) == (0.0, False)


def test_zero_area_boxes_that_coincide_score_zero():
    # union and hull are both clamped to 1e-3, intersection 0: giou = 0 - 0 / 1e-3
    assert bbox_giou_reward("[0.5, 0.5, 0.5, 0.5]", answer("[0.5, 0.5, 0.5, 0.5]")) == (0.0, False)


@pytest.mark.parametrize(
    ("ground_truth", "predicted"),
    [
        ("[0, 0, 1, 1]", "[1, 1, 0, 0]"),
        ("[0, 0, 1, 1]", "[1, 1, -100, -100]"),
        ("[0, 0, 1, 1]", "[0, 1, 1, 0]"),
        ("[1, 1, 0, 0]", "[0, 0, 1, 1]"),
    ],
)
def test_an_inverted_box_in_either_place_scores_nothing(ground_truth, predicted):
    """Deliberate fix: the formula gives an inverted box a positive "area" that can exceed
    its hull, so [1, 1, -100, -100] against [0, 0, 1, 1] would pay 10201.0."""
    assert bbox_giou_reward(ground_truth, answer(predicted)) == (0.0, False)


@pytest.mark.parametrize(
    "predicted", ["[0, 0, 1e308, 1e308]", "[0, 0, 1e200, 1e200]", "[-1e308, -1e308, 1e308, 1e308]"]
)
def test_huge_finite_coordinates_never_give_a_nan_reward(predicted):
    """Areas overflow to inf, so hull - union is inf - inf; the true GIoU is ~0."""
    assert bbox_giou_reward("[0, 0, 1, 1]", answer(predicted)) == (0.0, False)


@pytest.mark.parametrize(
    ("ground_truth", "predicted"),
    [
        ("[0, 0, 1, 1]", "[nan, 0.1, 0.5, 0.5]"),
        ("[nan, 0.1, 0.5, 0.5]", "[0, 0, 1, 1]"),
        ("[nan, 0.1, 0.5, 0.5]", "[nan, 0.1, 0.5, 0.5]"),
        ("[0, 0, 1, 1]", "[0, 0, 1, NaN]"),
        ("[0, 0, 1, 1]", "[0, 0, inf, 1]"),
        ("[0, 0, 1, 1]", "[-inf, 0, 1, 1]"),
        ("[0, 0, 1, 1]", "[-Infinity, -Infinity, Infinity, Infinity]"),
        ("[0, 0, inf, inf]", "[0, 0, 1, 1]"),
        ("[0, 0, 1, 1]", "[0, 0, 1e400, 1]"),
    ],
)
def test_non_finite_coordinates_score_zero(ground_truth, predicted):
    assert bbox_giou_reward(ground_truth, answer(predicted)) == (0.0, False)


def test_the_nan_box_the_reference_paid_160_for():
    reward, correct = bbox_giou_reward("[0.1, 0.1, 0.5, 0.5]", answer("[nan, 0.1, 0.5, 0.5]"))
    assert (reward, correct) == (0.0, False)
    assert math.isfinite(reward)


def test_zero_penalty_threshold_returns_plain_iou():
    assert bbox_giou_reward("[0, 0, 2, 2]", answer("[1, 1, 3, 3]"), giou_penalty_thres=0.0) == (
        1 / 7,
        False,
    )
    assert bbox_giou_reward("[0, 0, 1, 1]", answer("[2, 0, 3, 1]"), giou_penalty_thres=0.0) == (
        0.0,
        False,
    )


def test_penalty_applies_only_below_the_threshold():
    iou = 1 / 7
    assert bbox_giou_reward("[0, 0, 2, 2]", answer("[1, 1, 3, 3]"), giou_penalty_thres=0.1) == (
        iou,
        False,
    )
    assert bbox_giou_reward("[0, 0, 2, 2]", answer("[1, 1, 3, 3]"), giou_penalty_thres=0.2) == (
        iou - (9 - 7) / 9,
        False,
    )


@pytest.mark.parametrize(
    "predicted",
    [
        "[0, 0, 1]",
        "[0, 0, 1, 1, 1]",
        "[0, 0, 1, 1,]",
        "a, b, c, d",
        "[x1, y1, x2, y2]",
        "(0, 0, 1, 1)",
        "0 0 1 1",
        "",
        "the box is [0, 0, 1, 1]",
    ],
)
def test_unparseable_prediction_scores_zero(predicted):
    assert bbox_giou_reward("[0, 0, 1, 1]", answer(predicted)) == (0.0, False)


@pytest.mark.parametrize("ground_truth", ["[0, 0, 1]", "[0, 0, 1, 1, 1]", "box", ""])
def test_unparseable_ground_truth_scores_zero(ground_truth):
    assert bbox_giou_reward(ground_truth, answer("[0, 0, 1, 1]")) == (0.0, False)


@pytest.mark.parametrize("response", ["[0, 0, 1, 1]", "<answer>[0, 0, 1, 1]", ""])
def test_no_answer_tag_scores_zero(response):
    assert bbox_giou_reward("[0, 0, 1, 1]", response) == (0.0, False)


def test_custom_answer_tag():
    response = "<box>[0, 0, 1, 1]</box>"
    assert bbox_giou_reward("[0, 0, 1, 1]", response, answer_tag="box") == (1.0, True)
    assert bbox_giou_reward("[0, 0, 1, 1]", response) == (0.0, False)
