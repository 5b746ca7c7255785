"""From rollout files to a partition plan: which slices of them, read with which schema.

JSONL files are scanned once on the cluster (line offsets, column types); Parquet files are
planned from their footers. Each block is a slice of one file of about ``partition_rows`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import pyarrow as pa
from distributed import Client

from pipeline.errors import InputError
from pipeline.inputs.discovery import InputFile
from pipeline.inputs.jsonl import JsonlScan, column_type, read_jsonl_block, scan_jsonl
from pipeline.inputs.parquet import parquet_footer, read_parquet_rows
from pipeline.partition import READ_ERROR, READ_ERROR_KIND

DEFAULT_PARTITION_ROWS = 2000
"""Rows per partition: a few seconds of math-verify work per task."""
MIN_PARTITION_ROWS = 50
INDEX_GRANULARITY = 50
"""Lines between recorded JSONL offsets when the partition size is chosen automatically."""


@dataclass(frozen=True)
class Block:
    """A slice of one input file that becomes one partition: bytes ``[start, stop)`` of a
    JSONL file starting at line ``first_line``, or rows ``[start, stop)`` of a Parquet file."""

    url: str
    kind: str
    start: int
    stop: int
    first_line: int
    rows: int


@dataclass
class InputPlan:
    blocks: list[Block]
    schema: pa.Schema

    @property
    def rows(self) -> int:
        return sum(block.rows for block in self.blocks)

    def to_json(self) -> dict:
        return {
            "blocks": [asdict(block) for block in self.blocks],
            "schema": self.schema.serialize().to_pybytes().hex(),
        }

    @classmethod
    def from_json(cls, data: dict) -> InputPlan:
        schema = pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(data["schema"])))
        return cls([Block(**block) for block in data["blocks"]], schema)


def auto_partition_rows(total_rows: int, workers: int) -> int:
    """Rows per partition: DEFAULT_PARTITION_ROWS, but at least 4 partitions per worker."""
    spread = math.ceil(total_rows / (4 * max(1, workers)))
    return max(MIN_PARTITION_ROWS, min(DEFAULT_PARTITION_ROWS, spread))


def _jsonl_blocks(scan: JsonlScan, rows_per_block: int) -> list[Block]:
    step = max(1, rows_per_block // scan.granularity)
    blocks = []
    for index in range(0, len(scan.line_offsets), step):
        first_line = index * scan.granularity
        end_index = index + step
        stop = scan.line_offsets[end_index] if end_index < len(scan.line_offsets) else scan.size
        rows = min(step * scan.granularity, scan.lines - first_line)
        blocks.append(
            Block(scan.url, "jsonl", scan.line_offsets[index], stop, first_line + 1, rows)
        )
    return blocks


def _parquet_blocks(url: str, num_rows: int, rows_per_block: int) -> list[Block]:
    return [
        Block(
            url,
            "parquet",
            start,
            min(start + rows_per_block, num_rows),
            0,
            min(rows_per_block, num_rows - start),
        )
        for start in range(0, num_rows, rows_per_block)
    ]


def _jsonl_schema(scans: list[JsonlScan]) -> pa.Schema:
    types: dict[str, set[str]] = {}
    for scan in scans:
        for key, kinds in scan.types.items():
            types.setdefault(key, set()).update(kinds)
    return pa.schema([(key, column_type(key, kinds)) for key, kinds in types.items()])


def plan_inputs(
    files: Sequence[InputFile], client: Client, partition_rows: int | None, workers: int
) -> InputPlan:
    """Scan and slice the files on the cluster's workers; raises :class:`InputError` for an
    unreadable file or columns whose types disagree between files."""
    jsonl = [file.url for file in files if file.kind == "jsonl"]
    parquet = [file.url for file in files if file.kind == "parquet"]
    granularity = partition_rows or INDEX_GRANULARITY
    try:
        scans = dict(
            zip(
                jsonl,
                client.gather(client.map(scan_jsonl, jsonl, granularity=granularity, pure=False)),
            )
        )
        footers = dict(zip(parquet, client.gather(client.map(parquet_footer, parquet, pure=False))))
    except (OSError, pa.ArrowException) as error:
        raise InputError(f"cannot read input: {error}") from None
    total = sum(scan.lines for scan in scans.values()) + sum(rows for rows, _ in footers.values())
    rows_per_block = partition_rows or auto_partition_rows(total, workers)
    blocks: list[Block] = []
    for file in files:
        if file.kind == "jsonl":
            blocks += _jsonl_blocks(scans[file.url], rows_per_block)
        else:
            blocks += _parquet_blocks(file.url, footers[file.url][0], rows_per_block)
    if not blocks:
        raise InputError("the inputs hold no rows")
    try:
        schema = pa.unify_schemas(
            [_jsonl_schema(list(scans.values())), *(schema for _, schema in footers.values())],
            promote_options="permissive",
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InputError(f"input columns disagree in type between files: {error}") from None
    for name in (READ_ERROR, READ_ERROR_KIND):
        schema = schema.append(pa.field(name, pa.string()))
    return InputPlan(blocks, schema)


def read_block(block: Block, schema: pa.Schema) -> pd.DataFrame:
    """The rows of one block, with exactly the columns and types of ``schema``."""
    if block.kind == "jsonl":
        return read_jsonl_block(block.url, block.start, block.stop, block.first_line, schema)
    return read_parquet_rows(block.url, block.start, block.stop, schema)
