"""Parquet rollouts: row counts and schemas from file footers, and a row-range reader."""

from __future__ import annotations

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def parquet_footer(url: str) -> tuple[int, pa.Schema]:
    """The file's row count and schema, from its footer alone."""
    with fsspec.open(url, "rb") as handle:
        metadata = pq.ParquetFile(handle).metadata
        return metadata.num_rows, metadata.schema.to_arrow_schema()


def read_parquet_rows(url: str, start: int, stop: int, schema: pa.Schema) -> pd.DataFrame:
    """Rows ``[start, stop)`` of the file, conformed to ``schema`` (missing columns are null).

    Only the row groups overlapping the range are read.
    """
    with fsspec.open(url, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        groups, first_row, row = [], None, 0
        for index in range(parquet.metadata.num_row_groups):
            size = parquet.metadata.row_group(index).num_rows
            if row < stop and row + size > start:
                groups.append(index)
                first_row = row if first_row is None else first_row
            row += size
        present = [name for name in schema.names if name in parquet.schema_arrow.names]
        table = parquet.read_row_groups(groups, columns=present)
    table = table.slice(start - (first_row or 0), stop - start)
    columns = [
        table.column(name).cast(schema.field(name).type)
        if name in present
        else pa.nulls(table.num_rows, schema.field(name).type)
        for name in schema.names
    ]
    return pa.Table.from_arrays(columns, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)
