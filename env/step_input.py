"""A step's batch as the plain pandas frame the partition kernel scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


def _objects(values: list[object]) -> pd.Series:
    """The values as they are, one per row: no string conversion, no nesting into 2-D."""
    return pd.Series(values, dtype=object)


def _field(metadata: object, key: str) -> object:
    """``metadata[key]``, or None when it is missing or the metadata is not a mapping."""
    return metadata.get(key) if isinstance(metadata, Mapping) else None


def step_frame(
    message_log_batch: Sequence[Sequence[Mapping[str, Any]]], metadata: Sequence[object]
) -> pd.DataFrame:
    """Columns ``message_log`` (each conversation as given) and ``ground_truth`` (None where
    the metadata has none), plus ``data_source`` when any sample's metadata names one."""
    if len(message_log_batch) != len(metadata):
        raise ValueError(
            f"{len(message_log_batch)} conversations but {len(metadata)} metadata entries"
        )
    columns = {
        "message_log": _objects(list(message_log_batch)),
        "ground_truth": _objects([_field(item, "ground_truth") for item in metadata]),
    }
    if any(isinstance(item, Mapping) and "data_source" in item for item in metadata):
        columns["data_source"] = _objects([_field(item, "data_source") for item in metadata])
    return pd.DataFrame(columns)
