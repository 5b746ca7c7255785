"""The bounding-box reward: generalised IoU between two ``[x1, y1, x2, y2]`` boxes."""

from __future__ import annotations

import math

from rollscore.rewards.result import RewardResult
from rollscore.rewards.tags import tag_content

Box = tuple[float, float, float, float]
CORRECT_ABOVE = 0.5
"""The GIoU above which a box counts as correct."""


def parse_box(text: str) -> Box | None:
    """Four comma-separated numbers, brackets optional; None if it is anything else, holds a
    non-finite number (a NaN would otherwise slip through every ``max``), or is inverted
    (``x2 < x1`` or ``y2 < y1``: its "area" would be positive and could exceed the hull's)."""
    try:
        x1, y1, x2, y2 = (float(part) for part in text.replace("[", "").replace("]", "").split(","))
    except ValueError:
        return None
    box = (x1, y1, x2, y2)
    if not all(math.isfinite(value) for value in box) or x2 < x1 or y2 < y1:
        return None
    return box


def bbox_giou_result(
    ground_truth: str,
    response: str,
    giou_penalty_thres: float = 10.0,
    answer_tag: str = "answer",
) -> RewardResult:
    """GIoU of the ``<answer_tag>`` box against the ground-truth box; correct above 0.5.

    Below ``giou_penalty_thres`` IoU (always, with the default) the enclosing-hull penalty
    applies, so a far-off box scores below 0 rather than exactly 0.
    """
    answer = tag_content(response, answer_tag)
    if answer is None:
        return RewardResult(0.0, False)
    giou = _giou(parse_box(ground_truth), parse_box(answer), giou_penalty_thres)
    return RewardResult(giou, giou > CORRECT_ABOVE, answer)


def bbox_giou_reward(
    ground_truth: str,
    response: str,
    giou_penalty_thres: float = 10.0,
    answer_tag: str = "answer",
) -> tuple[float, bool]:
    """NeMo-RL's bounding-box reward: :func:`bbox_giou_result`'s ``(reward, correct)``."""
    return bbox_giou_result(ground_truth, response, giou_penalty_thres, answer_tag).pair


def _giou(gold: Box | None, predicted: Box | None, giou_penalty_thres: float) -> float:
    """The GIoU of two boxes, 0.0 when either is missing or the result is not finite."""
    if gold is None or predicted is None:
        return 0.0
    x1g, y1g, x2g, y2g = gold
    x1r, y1r, x2r, y2r = predicted
    area_gold = (x2g - x1g) * (y2g - y1g)
    area_predicted = (x2r - x1r) * (y2r - y1r)
    intersection = max(0.0, min(x2g, x2r) - max(x1g, x1r)) * max(0.0, min(y2g, y2r) - max(y1g, y1r))
    union = max(1e-3, area_gold + area_predicted - intersection)
    iou = intersection / union
    giou = iou
    if iou < giou_penalty_thres:
        hull = max(1e-3, (max(x2g, x2r) - min(x1g, x1r)) * (max(y2g, y2r) - min(y1g, y1r)))
        giou = iou - (hull - union) / hull
    return giou if math.isfinite(giou) else 0.0  # finite coordinates whose areas overflow
