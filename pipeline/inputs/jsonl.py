"""JSONL rollouts: a scan that finds line offsets and column types, and a block reader.

Both run as Dask tasks, so the data is read where the workers are. A line that is not a
JSON object still becomes a row, with its file and line in the read error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import fsspec
import pandas as pd
import pyarrow as pa

from pipeline.partition import READ_ERROR, READ_ERROR_KIND
from rewards.result import ErrorKind, Problem

TEXT_COLUMNS = ("ground_truth", "response", "message_log", "prompt", "data_source")
"""Always text: the scorer and the metrics read them as strings (other JSON kept as JSON text)."""


@dataclass
class JsonlScan:
    """What one pass over a JSONL file learned: where every ``granularity``-th line starts,
    how many lines and rows it has, and which JSON types each key holds."""

    url: str
    granularity: int
    line_offsets: list[int] = field(default_factory=list)
    lines: int = 0
    size: int = 0
    types: dict[str, set[str]] = field(default_factory=dict)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**63) <= value < 2**63 else "bigint"
    return {float: "float", str: "str", list: "list", dict: "dict"}[type(value)]


def scan_jsonl(url: str, granularity: int) -> JsonlScan:
    """Read the file once: offsets of lines 0, g, 2g, ... and every key's JSON types."""
    scan = JsonlScan(url, granularity)
    offset = 0
    with fsspec.open(url, "rb") as handle:
        for line in handle:
            if scan.lines % granularity == 0:
                scan.line_offsets.append(offset)
            scan.lines += 1
            offset += len(line)
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                for key, value in row.items():
                    scan.types.setdefault(key, set()).add(_json_type(value))
    scan.size = offset
    return scan


def column_type(name: str, json_types: set[str]) -> pa.DataType:
    """The Arrow type a column gets from the JSON types its values have across all files."""
    kinds = json_types - {"null"}
    if name in TEXT_COLUMNS:
        return pa.string()
    if kinds and kinds <= {"bool"}:
        return pa.bool_()
    if kinds and kinds <= {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()


def _cell(value: object, arrow_type: pa.DataType) -> object:
    """A JSON value as the column's type: non-strings in a text column become JSON text."""
    if value is None:
        return None
    if pa.types.is_string(arrow_type):
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if pa.types.is_floating(arrow_type):
        return float(value)
    return value


def read_jsonl_block(
    url: str, start: int, stop: int, first_line: int, schema: pa.Schema
) -> pd.DataFrame:
    """The rows of the lines in bytes ``[start, stop)``, which begin at line ``first_line``."""
    columns: dict[str, list[object]] = {name: [] for name in schema.names}
    types = {name: schema.field(name).type for name in schema.names}
    with fsspec.open(url, "rb") as handle:
        handle.seek(start)
        data = handle.read(stop - start)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    for number, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        row, problem = _parse_row(line, url, number)
        for name, values in columns.items():
            if name == READ_ERROR:
                values.append(None if problem is None else problem.message)
            elif name == READ_ERROR_KIND:
                values.append(None if problem is None else problem.kind.value)
            else:
                values.append(_cell(row.get(name), types[name]))
    table = pa.Table.from_pydict(columns, schema=schema)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _parse_row(line: bytes, url: str, number: int) -> tuple[dict, Problem | None]:
    where = f"{url} line {number}"
    try:
        row = json.loads(line)
    except ValueError as error:
        return {}, Problem(ErrorKind.UNREADABLE_ROW, f"{where} is not valid JSON ({error})")
    if not isinstance(row, dict):
        return {}, Problem(ErrorKind.UNREADABLE_ROW, f"{where} is not a JSON object")
    response = row.get("response")
    if response is not None and not isinstance(response, str):
        row = {**row, "response": None}
        problem = Problem(
            ErrorKind.BAD_INPUT, f"response is {type(response).__name__}, not a string"
        )
        return row, problem
    return row, None
