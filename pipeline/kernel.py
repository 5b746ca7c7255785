"""Scoring one partition: the plain pandas function every front end maps over the partitions
of its Dask dataframe (rollout files, a training batch, a server's requests).

A partition holds ``ground_truth`` and ``response`` or ``message_log`` (the response is then its
assistant text, :mod:`rollscore.pipeline.responses`), optionally ``data_source``, and any other
columns. A reader that could not read a row still hands it over, with why, through
:func:`with_input_problems`: such a row scores 0.0 with that error. :func:`score_partition`
returns the score columns, one row per input row, on the partition's index: ``reward``,
``correct``, one ``reward_<name>`` per configured function, ``extracted_answer``, ``error`` and
``error_kind``. :func:`scored_rows` returns them beside the input's own columns, as the offline
pipeline writes them.

In a Dask task, the kernel also tells the cluster what it did (:mod:`rollscore.pipeline.monitor`):
where its time went, to Dask's fine performance metrics, and, unless the config's ``monitor`` is
off, its partition's tally to the scheduler, once. Nothing per row leaves the task that way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
from rollscore.pipeline.monitor.report import digest_activities, report_tally
from rollscore.pipeline.monitor.tally import partition_tally
from rollscore.pipeline.responses import BadRow, ground_truth_text, response_from_message_log
from rollscore.pipeline.values import python_values
from rollscore.rewards.batch import score_batch
from rollscore.rewards.config import ScoringConfig
from rollscore.rewards.result import ErrorKind, Problem

TEXT = pd.ArrowDtype(pa.string())
FLOAT = pd.ArrowDtype(pa.float64())
BOOL = pd.ArrowDtype(pa.bool_())

INPUT_PROBLEM_COLUMN = "rollscore:input_problem"
"""Where :func:`with_input_problems` keeps each row's problem for the kernel, which drops the
column again: an Arrow struct, which Dask carries as it is (it turns object columns into text).
No input column has this name (the readers see to it)."""
_PROBLEM_TYPE = pd.ArrowDtype(pa.struct([("kind", pa.string()), ("message", pa.string())]))


def with_input_problems(frame: pd.DataFrame, problems: Sequence[Problem | None]) -> pd.DataFrame:
    """``frame`` with each row's input problem (None for a row read fine) handed to the kernel:
    a row with one is not scored, and its problem is its error."""
    if len(problems) != len(frame):
        raise ValueError(f"{len(problems)} problems for {len(frame)} rows")
    if not any(problem is not None for problem in problems):
        return frame
    values = [
        None if problem is None else {"kind": problem.kind.value, "message": problem.message}
        for problem in problems
    ]
    return frame.assign(**{INPUT_PROBLEM_COLUMN: pd.Series(values, frame.index, _PROBLEM_TYPE)})


def input_problems(frame: pd.DataFrame) -> list[Problem | None]:
    """The problem :func:`with_input_problems` handed over for each row (None for none)."""
    return [
        None if value is None else Problem(ErrorKind(value["kind"]), value["message"])
        for value in _column(frame, INPUT_PROBLEM_COLUMN)
    ]


def concat_rows(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``frames`` one after the other, each with its input problem."""
    problems = [problem for frame in frames for problem in input_problems(frame)]
    rows = [frame.drop(columns=[INPUT_PROBLEM_COLUMN], errors="ignore") for frame in frames]
    return with_input_problems(pd.concat(rows, ignore_index=True), problems)


def text_array(values: Sequence[str | None]) -> pd.api.extensions.ExtensionArray:
    """Texts as an Arrow string array, built straight from the Python strings: pandas would
    first make a fixed-width NumPy array of them, as wide as the longest times the rows."""
    return pd.arrays.ArrowExtensionArray(pa.array(values, pa.string()))


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _column(frame: pd.DataFrame, name: str) -> list[object]:
    """The column's values as Python objects, missing ones (None, NA, NaN) as None."""
    if name not in frame.columns:
        return [None] * len(frame)
    return [None if _is_missing(value) else value for value in python_values(frame[name])]


def responses_of(frame: pd.DataFrame) -> tuple[list[object], list[Problem | None]]:
    """Each row's response as the kernel scores it: ``response``, else the assistant text of
    ``message_log``; and the problem of a message log that gives none (None where it gives)."""
    responses = _column(frame, "response")
    problems: list[Problem | None] = [None] * len(frame)
    for index, (response, message_log) in enumerate(zip(responses, _column(frame, "message_log"))):
        if response is None and message_log is not None:
            try:
                responses[index] = response_from_message_log(message_log)
            except BadRow as error:
                problems[index] = Problem(ErrorKind.BAD_INPUT, str(error))
    return responses, problems


def score_partition(frame: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """The score columns of every row of ``frame`` (see the module's docstring); bad rows score
    0.0 with their ``error`` set."""
    started = time.time()
    responses, log_problems = responses_of(frame)
    problems = [given or found for given, found in zip(input_problems(frame), log_problems)]
    for index, problem in enumerate(problems):
        if problem is not None:
            responses[index] = None  # not scored: its problem is its error
    ground_truths = [ground_truth_text(value) for value in _column(frame, "ground_truth")]
    data_sources = _column(frame, "data_source")
    scores = score_batch(config, ground_truths, responses, data_sources)
    for index, problem in enumerate(problems):
        if problem is not None:
            scores.error[index], scores.error_kind[index] = problem.message, problem.kind.value
    digest_activities(scores.stats)
    if config.monitor and len(frame):
        report_tally(partition_tally(data_sources, scores), started)
    columns = {
        "reward": pd.array(scores.reward, dtype=FLOAT),
        "correct": pd.array(scores.correct, dtype=BOOL),
        **{column: pd.array(values, dtype=FLOAT) for column, values in scores.components.items()},
        "extracted_answer": text_array(scores.extracted_answer),
        "error": text_array(scores.error),
        "error_kind": text_array(scores.error_kind),
    }
    return pd.DataFrame(columns, index=frame.index)


def scored_rows(frame: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """``frame``'s own columns followed by its score columns (an input column of a score
    column's name is replaced)."""
    scores = score_partition(frame, config)
    kept = frame.drop(columns=[INPUT_PROBLEM_COLUMN, *scores.columns], errors="ignore")
    return pd.concat([kept, scores], axis=1)


def scores_meta(config: ScoringConfig) -> pd.DataFrame:
    """The exact empty frame :func:`score_partition` returns."""
    return score_partition(pd.DataFrame(), config)


def scored_rows_meta(input_meta: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """The exact empty frame :func:`scored_rows` returns for ``input_meta``'s columns."""
    return scored_rows(input_meta.iloc[:0], config)
