"""From rollout files to a partition plan: which blocks of them, read with which schema.

Planning runs on the cluster, where the data is, in two parallel passes: a probe of each file
(its size and modification time; a JSON array or JSON lines; a Parquet file's footer), then
scans of the JSON: plain JSON-lines files in byte ranges of :data:`SCAN_RANGE_BYTES`, so a
single file of ten million rows is scanned by many tasks, compressed and array files whole.
Each block is a slice of one file of about ``partition_rows`` rows, with the digest its reader
checks. The plan records each file's identity (size, modification time, a digest of what was
planned), which ``--resume`` compares before it trusts the plan again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import pyarrow as pa
from distributed import Client
from distributed.metrics import context_meter
from fsspec.core import url_to_fs
from rollscore.pipeline.errors import InputError
from rollscore.pipeline.inputs.block import Block
from rollscore.pipeline.inputs.columns import EXTRA_COLUMN, column_type, kept_columns
from rollscore.pipeline.inputs.discovery import InputFile
from rollscore.pipeline.inputs.jsonl import (
    SCAN_RANGE_BYTES,
    Scan,
    block_digest,
    is_json_array,
    read_json_block,
    scan_range,
    scan_whole,
)
from rollscore.pipeline.inputs.parquet import parquet_footer, read_parquet_rows

DEFAULT_PARTITION_ROWS = 2000
"""Rows per partition: a few seconds of math-verify work per task."""
MIN_PARTITION_ROWS = 50
INDEX_GRANULARITY = 50
"""Lines between recorded JSONL offsets (and per digest chunk) when the partition size is
chosen automatically."""


@dataclass(frozen=True)
class InputIdentity:
    """What a planned input file was: its size, modification time and a digest of what was
    planned of it."""

    url: str
    size: int
    modified: str | None
    digest: str


def file_state(url: str) -> tuple[int, str | None]:
    """A file's size and modification time (None where the filesystem does not say)."""
    fs, path = url_to_fs(url)
    size = int(fs.size(path))
    try:
        modified = fs.modified(path).isoformat()
    except (NotImplementedError, OSError, AttributeError):
        modified = None
    return size, modified


@dataclass(frozen=True)
class FileProbe:
    """What a first look at one file learned: its state, its kind, and for Parquet its rows,
    schema and footer digest."""

    file: InputFile
    size: int
    modified: str | None
    kind: str
    rows: int = 0
    schema: pa.Schema | None = None
    digest: str = ""


def probe_file(file: InputFile) -> FileProbe:
    """Look at one file: a Dask task, so files are read where the workers are."""
    size, modified = file_state(file.url)
    if file.kind == "parquet":
        rows, schema, digest = parquet_footer(file.url)
        return FileProbe(file, size, modified, "parquet", rows, schema, digest)
    array = is_json_array(file.url, file.compression)
    return FileProbe(file, size, modified, "json_array" if array else "jsonl")


@dataclass
class InputPlan:
    blocks: list[Block]
    schema: pa.Schema
    inputs: list[InputIdentity]

    def to_json(self) -> dict:
        return {
            "blocks": [asdict(block) for block in self.blocks],
            "schema": self.schema.serialize().to_pybytes().hex(),
            "inputs": [asdict(identity) for identity in self.inputs],
        }

    @classmethod
    def from_json(cls, data: dict) -> InputPlan:
        schema = pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(data["schema"])))
        return cls(
            [Block(**block) for block in data["blocks"]],
            schema,
            [InputIdentity(**identity) for identity in data["inputs"]],
        )

    def changed_input(self) -> str | None:
        """How the first input that is no longer the planned one changed (its size or its
        modification time), or None when none did."""
        for identity in self.inputs:
            try:
                size, modified = file_state(identity.url)
            except (OSError, ValueError):
                return f"input {identity.url} can no longer be read"
            if size != identity.size:
                return f"input {identity.url} changed size ({identity.size:,} -> {size:,} bytes)"
            if modified != identity.modified:
                return f"input {identity.url} was modified ({identity.modified} -> {modified})"
        return None


def auto_partition_rows(total_rows: int, workers: int) -> int:
    """Rows per partition: DEFAULT_PARTITION_ROWS, but at least 4 partitions per worker."""
    spread = math.ceil(total_rows / (4 * max(1, workers)))
    return max(MIN_PARTITION_ROWS, min(DEFAULT_PARTITION_ROWS, spread))


def _scan_ranges(probe: FileProbe) -> list[tuple[str, int, int]]:
    """The byte ranges a plain JSON-lines file is scanned in."""
    ranges = range(0, max(probe.size, 1), SCAN_RANGE_BYTES)
    return [(probe.file.url, start, start + SCAN_RANGE_BYTES) for start in ranges]


def _range_blocks(
    scan: Scan, rows_per_block: int, granularity: int, first_line: int
) -> list[Block]:
    """A range scan's lines in blocks of about ``rows_per_block`` (whole chunks)."""
    step = max(1, rows_per_block // granularity)
    blocks = []
    for index in range(0, len(scan.offsets), step):
        end_index = index + step
        stop = scan.offsets[end_index] if end_index < len(scan.offsets) else scan.stop
        blocks.append(
            Block(
                url=scan.url,
                kind="jsonl",
                compression=None,
                start=scan.offsets[index],
                stop=stop,
                first_line=first_line + index * granularity,
                rows=min(step * granularity, scan.lines - index * granularity),
                digest=block_digest(scan.chunk_digests[index:end_index]),
                granularity=granularity,
            )
        )
    return blocks


def _parquet_blocks(probe: FileProbe, rows_per_block: int) -> list[Block]:
    return [
        Block(
            url=probe.file.url,
            kind="parquet",
            compression=None,
            start=start,
            stop=min(start + rows_per_block, probe.rows),
            first_line=0,
            rows=min(rows_per_block, probe.rows - start),
            digest=probe.digest,
        )
        for start in range(0, probe.rows, rows_per_block)
    ]


def json_schema(scans: Sequence[Scan]) -> pa.Schema:
    """The columns JSON rows become (:mod:`rollscore.pipeline.inputs.columns`)."""
    counts: dict[str, int] = {}
    types: dict[str, set[str]] = {}
    for scan in scans:
        for key, count in scan.key_counts.items():
            counts[key] = counts.get(key, 0) + count
            types.setdefault(key, set()).update(scan.types[key])
    kept, overflow = kept_columns(counts)
    fields = [(key, column_type(key, types[key])) for key in kept]
    if overflow:
        fields.append((EXTRA_COLUMN, pa.string()))
    return pa.schema(fields)


def plan_inputs(
    files: Sequence[InputFile], client: Client, partition_rows: int | None, workers: int
) -> InputPlan:
    """Probe, scan and slice the files on the cluster's workers; raises :class:`InputError`
    for an unreadable file or columns whose types disagree between files."""
    granularity = partition_rows or INDEX_GRANULARITY
    try:
        probes = client.gather(client.map(probe_file, files, pure=False))
        plain = [
            probe for probe in probes if probe.kind == "jsonl" and probe.file.compression is None
        ]
        whole = [probe for probe in probes if probe.kind != "parquet" and probe not in plain]
        ranges = [piece for probe in plain for piece in _scan_ranges(probe)]
        range_scans = (
            client.map(scan_range, *zip(*ranges), granularity=granularity, pure=False)
            if ranges
            else []
        )
        whole_scans = client.map(
            scan_whole,
            [probe.file.url for probe in whole],
            [probe.file.compression for probe in whole],
            [probe.kind == "json_array" for probe in whole],
            pure=False,
        )
        scans: list[Scan] = client.gather([*range_scans, *whole_scans])
    except (OSError, pa.ArrowException, EOFError) as error:
        raise InputError(f"cannot read input: {error}") from None
    by_url: dict[str, list[Scan]] = {}
    for scan in scans:
        by_url.setdefault(scan.url, []).append(scan)
    total = sum(scan.lines for scan in scans) + sum(probe.rows for probe in probes)
    rows_per_block = partition_rows or auto_partition_rows(total, workers)
    blocks: list[Block] = []
    identities = []
    for probe in probes:
        if probe.kind == "parquet":
            file_blocks = _parquet_blocks(probe, rows_per_block)
        elif probe.file.compression is not None or probe.kind == "json_array":
            (scan,) = by_url[probe.file.url]
            file_blocks = [_whole_block(probe, scan)] if scan.lines else []
        else:
            file_blocks, first_line = [], 1
            for scan in sorted(by_url[probe.file.url], key=lambda scan: scan.start):
                file_blocks += _range_blocks(scan, rows_per_block, granularity, first_line)
                first_line += scan.lines
        blocks += file_blocks
        digest = block_digest(bytes.fromhex(block.digest) for block in file_blocks)
        identities.append(InputIdentity(probe.file.url, probe.size, probe.modified, digest))
    if not blocks:
        raise InputError("the inputs hold no rows")
    try:
        schema = pa.unify_schemas(
            [json_schema(scans), *(probe.schema for probe in probes if probe.schema)],
            promote_options="permissive",
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InputError(f"input columns disagree in type between files: {error}") from None
    return InputPlan(blocks, schema, identities)


def _whole_block(probe: FileProbe, scan: Scan) -> Block:
    """A compressed or array file as one block."""
    return Block(
        url=probe.file.url,
        kind=probe.kind,
        compression=probe.file.compression,
        start=0,
        stop=scan.stop,
        first_line=1,
        rows=scan.lines,
        digest=block_digest(scan.chunk_digests),
    )


def read_block(block: Block, schema: pa.Schema) -> pd.DataFrame:
    """The rows of one block, with exactly the columns and types of ``schema``; the time it
    takes shows as reading in Dask's fine performance metrics."""
    with context_meter.meter("reading"):
        if block.kind == "parquet":
            return read_parquet_rows(block, schema)
        return read_json_block(block, schema)
