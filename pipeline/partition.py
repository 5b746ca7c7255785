"""Scoring one partition of rollouts: a plain pandas function that Dask maps over partitions.

Input columns: ``ground_truth`` and ``response`` or ``message_log``, optionally
``data_source``, anything else (carried through), and the readers' :data:`READ_ERROR` and
:data:`READ_ERROR_KIND` for rows they could not read. Output: the input columns plus
``reward``, ``correct``, one ``reward_<name>`` per configured function, ``extracted_answer``,
``error`` and ``error_kind``, one output row per input row, in order.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from pipeline.responses import BadRow, ground_truth_text, response_from_message_log
from rewards.batch import BatchScores, score_batch
from rewards.config import ScoringConfig
from rewards.errors import VerifierUnavailable
from rewards.result import ErrorKind, Problem

READ_ERROR = "__read_error"
"""A column readers add: why a row could not be read (then it scores 0.0 with that error)."""
READ_ERROR_KIND = "__read_error_kind"
"""Beside it: the :class:`~rewards.result.ErrorKind` value of that error."""

TEXT = pd.ArrowDtype(pa.string())
FLOAT = pd.ArrowDtype(pa.float64())
BOOL = pd.ArrowDtype(pa.bool_())


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
    scores = partition_scores(frame, config)
    scored = frame.drop(columns=[READ_ERROR, READ_ERROR_KIND, *scores.columns], errors="ignore")
    return scored.assign(**{name: scores[name] for name in scores.columns})


def partition_scores(frame: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """The score columns alone of :func:`score_partition` (``reward``, ``correct``, each
    ``reward_<name>``, ``extracted_answer``, ``error``, ``error_kind``), on ``frame``'s index:
    what a training step needs back, without a copy of its input."""
    responses, log_errors = responses_of(frame)
    errors = _column(frame, READ_ERROR)
    kinds = _column(frame, READ_ERROR_KIND)
    for index, log_error in enumerate(log_errors):
        if errors[index] is None and log_error is not None:
            errors[index], kinds[index] = log_error, ErrorKind.BAD_INPUT.value
        if errors[index] is not None:
            responses[index] = None  # scores 0.0; the reason is the error already found
    ground_truths = [ground_truth_text(value) for value in _column(frame, "ground_truth")]
    try:
        scores = score_batch(config, ground_truths, responses, _column(frame, "data_source"))
    except VerifierUnavailable as error:  # said in the rows, so the run stops with one line
        scores = _unscored(len(frame), config, str(error))
    for index, error in enumerate(errors):
        if error is not None:
            scores.error[index], scores.error_kind[index] = error, kinds[index]
    columns = {
        "reward": pd.array(scores.reward, dtype=FLOAT),
        "correct": pd.array(scores.correct, dtype=BOOL),
        **{column: pd.array(values, dtype=FLOAT) for column, values in scores.components.items()},
        "extracted_answer": pd.array(scores.extracted_answer, dtype=TEXT),
        "error": pd.array(scores.error, dtype=TEXT),
        "error_kind": pd.array(scores.error_kind, dtype=TEXT),
    }
    return pd.DataFrame(columns, index=frame.index)


def _unscored(rows: int, config: ScoringConfig, message: str) -> BatchScores:
    """Scores of rows that could not be scored at all: every one ``verifier_unavailable``."""
    return BatchScores(
        reward=[0.0] * rows,
        correct=[False] * rows,
        components={column: [float("nan")] * rows for column in config.component_columns},
        extracted_answer=[None] * rows,
        error=[message] * rows,
        error_kind=[ErrorKind.VERIFIER_UNAVAILABLE.value] * rows,
    )


STOPPING_KINDS = (ErrorKind.VERIFIER_UNAVAILABLE.value, ErrorKind.INPUT_CHANGED.value)
"""Kinds that mean nothing in a partition could be scored: it is never written, and the work
stops with the message."""


def stopping_problem(scored: pd.DataFrame) -> Problem | None:
    """Why a scored partition must not be written (its scoring process could not start, or its
    input changed since it was planned), or None when it may be."""
    stopping = scored["error_kind"].isin(STOPPING_KINDS).fillna(False).to_numpy(dtype=bool)
    if not stopping.any():
        return None
    first = int(stopping.argmax())
    return Problem(ErrorKind(scored["error_kind"].iloc[first]), scored["error"].iloc[first])


def scored_meta(input_meta: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """The exact empty frame :func:`score_partition` returns for ``input_meta``'s columns."""
    return score_partition(input_meta.iloc[:0], config)
