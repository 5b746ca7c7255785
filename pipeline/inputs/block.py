"""A block: the slice of one input file that becomes one partition."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from pipeline.partition import READ_ERROR, READ_ERROR_KIND
from rewards.result import ErrorKind


@dataclass(frozen=True)
class Block:
    """Bytes ``[start, stop)`` of a plain JSON-lines file starting at line ``first_line``; the
    whole of a compressed JSON-lines file or of a JSON array file; or rows ``[start, stop)`` of
    a Parquet file. ``digest`` is what its bytes (JSON) or the file's footer (Parquet) hashed
    to when planned: a block whose input changed since is never scored."""

    url: str
    kind: str
    """``jsonl``, ``json_array`` or ``parquet``."""
    compression: str | None
    start: int
    stop: int
    first_line: int
    rows: int
    digest: str
    granularity: int = 1
    """Lines per chunk of the block's digest (plain JSON lines only)."""


def changed_rows(block: Block, schema: pa.Schema) -> pd.DataFrame:
    """What reading a block whose input changed since planning gives: rows saying only that
    (``input_changed``), which stop the run rather than being written."""
    rows = max(1, block.rows)
    columns = {name: pa.nulls(rows, schema.field(name).type) for name in schema.names}
    columns[READ_ERROR] = pa.array(
        [f"input {block.url} changed since the run was planned"] * rows, pa.string()
    )
    columns[READ_ERROR_KIND] = pa.array([ErrorKind.INPUT_CHANGED.value] * rows, pa.string())
    return pa.Table.from_pydict(columns, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)
