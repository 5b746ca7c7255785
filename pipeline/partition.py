"""Scoring one partition of rollouts: a plain pandas function that Dask maps over partitions.

Input columns: ``ground_truth`` and ``response`` or ``message_log``, optionally
``data_source``, anything else (carried through). Output: the input columns plus ``reward``,
``correct``, one ``reward_<name>`` per configured function, ``extracted_answer`` and
``error``, one output row per input row, in order.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from pipeline.responses import BadRow, ground_truth_text, response_from_message_log
from rewards.batch import score_batch
from rewards.config import ScoringConfig

READ_ERROR = "__read_error"
"""A column readers may add: why a row could not be read (then it scores 0.0 with that error)."""

TEXT = pd.ArrowDtype(pa.string())
FLOAT = pd.ArrowDtype(pa.float64())
BOOL = pd.ArrowDtype(pa.bool_())
SCORE_COLUMNS = ("reward", "correct", "extracted_answer", "error")


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    """The column's values as Python objects, missing ones (None, NA, NaN) as None."""
    if name not in frame.columns:
        return [None] * len(frame)
    return [None if _is_missing(value) else value for value in frame[name].tolist()]


def responses_of(frame: pd.DataFrame) -> tuple[list[object], list[str | None]]:
    """Each row's response, from ``response`` or else ``message_log``, and why a message log
    gave none (None where it did)."""
    responses = _column(frame, "response")
    message_logs = _column(frame, "message_log")
    errors: list[str | None] = [None] * len(frame)
    for index, (response, message_log) in enumerate(zip(responses, message_logs)):
        if response is None and message_log is not None:
            try:
                responses[index] = response_from_message_log(message_log)
            except BadRow as error:
                errors[index] = str(error)
    return responses, errors


def score_partition(frame: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """Score every row of ``frame``; bad rows score 0.0 with their ``error`` set."""
    responses, errors = responses_of(frame)
    read_errors = _column(frame, READ_ERROR)
    ground_truths = [ground_truth_text(value) for value in _column(frame, "ground_truth")]
    for index, error in enumerate(read_errors):
        errors[index] = error or errors[index]
        if errors[index] is not None:
            responses[index] = None  # scores 0.0; the reason is the error already found
    scores = score_batch(config, ground_truths, responses, _column(frame, "data_source"))
    scored = frame.drop(columns=[READ_ERROR, *SCORE_COLUMNS, *scores.components], errors="ignore")
    new_columns = {
        "reward": pd.array(scores.reward, dtype=FLOAT),
        "correct": pd.array(scores.correct, dtype=BOOL),
        **{column: pd.array(values, dtype=FLOAT) for column, values in scores.components.items()},
        "extracted_answer": pd.array(scores.extracted_answer, dtype=TEXT),
        "error": pd.array(
            [read or scored_error for read, scored_error in zip(errors, scores.error)], dtype=TEXT
        ),
    }
    return scored.assign(
        **{name: pd.Series(values, index=frame.index) for name, values in new_columns.items()}
    )


def scored_meta(input_meta: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """The exact empty frame :func:`score_partition` returns for ``input_meta``'s columns."""
    return score_partition(input_meta.iloc[:0], config)
