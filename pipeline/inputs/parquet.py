"""Parquet rollouts: row counts, schemas and digests from file footers, and a row-range reader."""

from __future__ import annotations

import hashlib
import struct

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rollscore.pipeline.inputs.block import Block, input_changed, reading_input
from rollscore.pipeline.inputs.columns import FLAG_COLUMNS, cell_reader, flag_value, read_type
from rollscore.pipeline.kernel import with_input_problems
from rollscore.rewards.result import ErrorKind, Problem


def footer_digest(handle) -> str:
    """A BLAKE2b digest of a Parquet file's footer, which describes every byte of its data."""
    handle.seek(-8, 2)
    (length,) = struct.unpack("<i", handle.read(4))
    handle.seek(-8 - length, 2)
    return hashlib.blake2b(handle.read(length), digest_size=16).hexdigest()


def parquet_footer(url: str) -> tuple[int, pa.Schema, str]:
    """The file's row count, schema and footer digest, from its footer alone."""
    with fsspec.open(url, "rb") as handle:
        metadata = pq.ParquetFile(handle).metadata
        return metadata.num_rows, metadata.schema.to_arrow_schema(), footer_digest(handle)


def read_parquet_rows(block: Block, schema: pa.Schema) -> pd.DataFrame:
    """Rows ``[start, stop)`` of the block's file, conformed to ``schema`` (missing columns are
    null, flags read as :func:`~rollscore.pipeline.inputs.columns.flag_value` reads them, a row
    whose flag is none a bad input, one holding text that is not UTF-8 unreadable). Only the
    row groups overlapping the range are read. Raises :class:`InputChanged` when the file's
    footer is no longer the planned one."""
    with fsspec.open(block.url, "rb") as handle:
        if footer_digest(handle) != block.digest:
            raise input_changed(block)
        parquet = pq.ParquetFile(handle)
        groups, first_row, row = [], None, 0
        for index in range(parquet.metadata.num_row_groups):
            size = parquet.metadata.row_group(index).num_rows
            if row < block.stop and row + size > block.start:
                groups.append(index)
                first_row = row if first_row is None else first_row
            row += size
        present = [name for name in schema.names if name in parquet.schema_arrow.names]
        with reading_input(block.url):  # pages damaged since it was planned, say
            table = parquet.read_row_groups(groups, columns=present)
    table = table.slice(block.start - (first_row or 0), block.stop - block.start)
    unreadable: list[Problem | None] = [None] * table.num_rows
    read = {}
    for name in present:
        column = _viewed_as(table.column(name), read_type(name, table.column(name).type))
        read[name], unreadable = _valid_text(column, name, block, unreadable)
    columns = {
        name: _conformed(read[name], schema.field(name).type)
        if name in present
        else pa.nulls(table.num_rows, schema.field(name).type)
        for name in schema.names
    }
    messages: list[str | None] = [None] * table.num_rows
    for name in FLAG_COLUMNS:
        if name in present and not pa.types.is_boolean(read[name].type):
            columns[name], messages = _flags(name, read[name].to_pylist(), messages)
    problems = [
        problem or (None if message is None else Problem(ErrorKind.BAD_INPUT, message))
        for problem, message in zip(unreadable, messages)
    ]
    frame = pa.Table.from_pydict(columns, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)
    return with_input_problems(frame, problems)


def _viewed_as(column: pa.ChunkedArray, arrow_type: pa.DataType) -> pa.ChunkedArray:
    """The column as ``arrow_type`` (bytes as text, by :func:`read_type`), its buffers viewed,
    not copied; unchecked as Parquet's own text is: :func:`_valid_text` checks it next."""
    if column.type == arrow_type:
        return column
    return pa.chunked_array([chunk.view(arrow_type) for chunk in column.chunks], arrow_type)


def _valid_text(
    column: pa.ChunkedArray, name: str, block: Block, problems: list[Problem | None]
) -> tuple[pa.ChunkedArray | pa.Array, list[Problem | None]]:
    """The column with each value holding text that is not valid UTF-8 (Parquet readers do not
    check it, and Python cannot read it) replaced: a text by its valid reading, U+FFFD for each
    invalid sequence; a list or record by null. Each such row's problem says so."""
    if _is_valid(column):
        return column, problems
    if pa.types.is_dictionary(column.type):  # each row's own value, not the whole dictionary
        column = column.cast(column.type.value_type)
    raw_type = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary()}.get(column.type)
    values = []
    for index in range(len(column)):
        value = column.take([index])
        if _is_valid(value):
            values.append(value[0].as_py())
            continue
        where = f"{block.url} row {block.start + index + 1}"
        if raw_type is None:
            values.append(None)
            why = f"{where} holds text that is not valid UTF-8 in {name} (left out)"
        else:
            values.append(value.cast(raw_type)[0].as_py().decode("utf-8", "replace"))
            why = f"{where} holds text that is not valid UTF-8 in {name} (replaced by U+FFFD)"
        problems[index] = problems[index] or Problem(ErrorKind.UNREADABLE_ROW, why)
    return pa.array(values, column.type), problems


def _is_valid(values: pa.ChunkedArray) -> bool:
    """Whether every text in ``values`` (nested ones too) is valid UTF-8."""
    try:
        values.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _conformed(column: pa.ChunkedArray, arrow_type: pa.DataType) -> pa.ChunkedArray | pa.Array:
    """The column as the plan's type: values of another type in a text column as their JSON
    text, as a JSON reader keeps them; a flag column of another type is read by
    :func:`_flags`."""
    if pa.types.is_boolean(arrow_type) and not pa.types.is_boolean(column.type):
        return pa.nulls(len(column), arrow_type)
    if pa.types.is_string(arrow_type) and not _is_text(column.type):
        read = cell_reader(arrow_type)
        return pa.array([read(value) for value in column.to_pylist()], arrow_type)
    return column.cast(arrow_type)


def _is_text(arrow_type: pa.DataType) -> bool:
    """Whether a column of ``arrow_type`` holds text, cast to ``string`` as it is: a large or
    dictionary-encoded one too."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _flags(
    name: str, values: list[object], messages: list[str | None]
) -> tuple[pa.Array, list[str | None]]:
    """A flag column read value by value; a value that is no flag leaves its row's message."""
    flags = []
    for index, value in enumerate(values):
        flag, why = flag_value(name, value)
        flags.append(flag)
        messages[index] = messages[index] or why
    return pa.array(flags, pa.bool_()), messages
