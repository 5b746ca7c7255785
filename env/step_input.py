"""A batch as the plain pandas frame the partition kernel scores: only what scoring needs (the
response text, the ground truth, the data source), so the workers are sent no more."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from rollscore.pipeline.kernel import with_input_problems
from rollscore.pipeline.responses import BadRow, is_mapping, response_from_message_log
from rollscore.rewards.result import ErrorKind, Problem


def _objects(values: Sequence[object]) -> pd.Series:
    """The values as they are, one per row: no string conversion, no nesting into 2-D."""
    return pd.Series(list(values), dtype=object)


def _field(metadata: object, key: str) -> object:
    """``metadata[key]``, or None when it is missing or the metadata is not a mapping."""
    return metadata.get(key) if is_mapping(metadata) else None


def samples_frame(
    responses: Sequence[object],
    ground_truths: Sequence[object],
    data_sources: Sequence[object] | None = None,
    problems: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """Columns ``response`` and ``ground_truth`` (values as given: the kernel says why one is
    bad), ``data_source`` when given, and for the rows that ``problems`` (when given) says are
    bad inputs, why (:func:`~rollscore.pipeline.kernel.with_input_problems`)."""
    if len(responses) != len(ground_truths):
        raise ValueError(f"{len(responses)} responses but {len(ground_truths)} ground truths")
    if data_sources is not None and len(data_sources) != len(responses):
        raise ValueError(f"{len(responses)} responses but {len(data_sources)} data sources")
    columns = {"response": _objects(responses), "ground_truth": _objects(ground_truths)}
    if data_sources is not None:
        columns["data_source"] = _objects(data_sources)
    frame = pd.DataFrame(columns)
    if problems is None:
        return frame
    return with_input_problems(
        frame, [None if text is None else Problem(ErrorKind.BAD_INPUT, text) for text in problems]
    )


def conversation_texts(
    conversations: Sequence[object],
) -> tuple[list[str | None], list[str | None]]:
    """Each conversation's assistant text
    (:func:`~rollscore.pipeline.responses.response_from_message_log`),
    and why a conversation has none (None where it has)."""
    texts: list[str | None] = []
    problems: list[str | None] = []
    for conversation in conversations:
        try:
            texts.append(response_from_message_log(conversation))
            problems.append(None)
        except BadRow as error:
            texts.append(None)
            problems.append(str(error))
    return texts, problems


def step_frame(
    message_log_batch: Sequence[Sequence[Mapping[str, Any]]], metadata: Sequence[object]
) -> pd.DataFrame:
    """The assistant text of each conversation, against its metadata's ground truth (None where
    it has none), with the data source when any sample's metadata names one."""
    if len(message_log_batch) != len(metadata):
        raise ValueError(
            f"{len(message_log_batch)} conversations but {len(metadata)} metadata entries"
        )
    texts, problems = conversation_texts(message_log_batch)
    sources = None
    if any(is_mapping(item) and "data_source" in item for item in metadata):
        sources = [_field(item, "data_source") for item in metadata]
    return samples_frame(
        texts, [_field(item, "ground_truth") for item in metadata], sources, problems
    )
