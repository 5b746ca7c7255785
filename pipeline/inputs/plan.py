"""From rollout files to a partition plan: which blocks of them, read with which schema, in
which partitions.

Planning runs on the cluster, where the data is, in two parallel passes: probes of the files
(each one's size and modification time; a JSON array or JSON lines; a Parquet file's footer),
then scans of the JSON: plain JSON-lines files in byte ranges of :data:`SCAN_RANGE_BYTES`, so a
single file of ten million rows is scanned by many tasks, compressed and array files whole.
Many small files are probed and scanned a batch per task. Each block is a slice of one file of
about ``partition_rows`` rows, with the digest its reader checks; consecutive small blocks (of
small files) share one partition. The plan records each file's identity (size, modification
time, a digest of what was planned), which ``--resume`` compares before it trusts the plan
again.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import pyarrow as pa
from distributed import Client
from distributed.metrics import context_meter
from fsspec.core import url_to_fs
from rollscore.pipeline.errors import InputError
from rollscore.pipeline.inputs.block import Block, reading_input
from rollscore.pipeline.inputs.columns import (
    EXTRA_COLUMN,
    column_type,
    input_schema,
    kept_columns,
    without_lone_surrogates,
)
from rollscore.pipeline.inputs.discovery import InputFile
from rollscore.pipeline.inputs.jsonl import (
    SCAN_RANGE_BYTES,
    Scan,
    block_digest,
    json_kind,
    read_json_blocks,
    reads_whole,
    scan_range,
    scan_whole,
)
from rollscore.pipeline.inputs.parquet import parquet_footer, read_parquet_rows
from rollscore.pipeline.kernel import INPUT_PROBLEM_COLUMN, concat_rows

DEFAULT_PARTITION_ROWS = 2000
"""Rows per partition: a few seconds of math-verify work per task."""
LARGE_PARTITION_ROWS = 8000
"""Rows per partition of a large input, which gives every worker 32 partitions or more all the
same: a partition's fixed costs (its tasks, its part file, its metric partials) spread over
more rows, about a tenth of the workers' CPU at a million rows."""
MIN_PARTITION_ROWS = 50
INDEX_GRANULARITY = 50
"""Lines between recorded JSONL offsets (and per digest chunk) when the partition size is
chosen automatically."""
FILES_PER_TASK = 64
"""Files one planning task probes or scans at most: thousands of small files cost tens of
tasks, not thousands."""


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


def probe_files(files: Sequence[InputFile]) -> list[FileProbe]:
    """Look at some files: a Dask task, so files are read where the workers are."""
    return [_probe(file) for file in files]


def _probe(file: InputFile) -> FileProbe:
    with reading_input(file.url):
        size, modified = file_state(file.url)
        if file.kind == "parquet":
            rows, schema, digest = parquet_footer(file.url)
            return FileProbe(file, size, modified, "parquet", rows, schema, digest)
        return FileProbe(file, size, modified, json_kind(file.url, file.compression))


@dataclass(frozen=True)
class ScanPiece:
    """What one scan reads: bytes ``[start, stop)`` of a plain JSON-lines file, or a whole
    compressed or array file; ``size`` is about the bytes it reads."""

    probe: FileProbe
    start: int = 0
    stop: int = 0

    @property
    def whole(self) -> bool:
        return reads_whole(self.probe.kind, self.probe.file.compression)

    @property
    def size(self) -> int:
        return self.probe.size if self.whole else min(self.stop, self.probe.size) - self.start


def scan_pieces(pieces: Sequence[ScanPiece], granularity: int) -> list[Scan]:
    """Scan some pieces of JSON files: a Dask task."""
    return [_scan(piece, granularity) for piece in pieces]


def _scan(piece: ScanPiece, granularity: int) -> Scan:
    """One piece's scan: a whole file, or a byte range of a plain JSON-lines file."""
    file = piece.probe.file
    with reading_input(file.url):
        if piece.whole:
            return scan_whole(file.url, file.compression, piece.probe.kind)
        return scan_range(file.url, piece.start, piece.stop, granularity)


def _pieces(probe: FileProbe) -> list[ScanPiece]:
    """The pieces a JSON file is scanned in: whole, or byte ranges of a plain JSON-lines file."""
    if ScanPiece(probe).whole:
        return [ScanPiece(probe)]
    starts = range(0, max(probe.size, 1), SCAN_RANGE_BYTES)
    return [ScanPiece(probe, start, start + SCAN_RANGE_BYTES) for start in starts]


def _batches(items: Sequence, size_of, budget: int) -> Iterator[list]:
    """Consecutive items in batches of at most :data:`FILES_PER_TASK` and about ``budget``
    in size (an item larger than that alone)."""
    batch, used = [], 0
    for item in items:
        if batch and (len(batch) == FILES_PER_TASK or used + size_of(item) > budget):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += size_of(item)
    if batch:
        yield batch


@dataclass
class InputPlan:
    """The blocks of the inputs, the partitions they are scored in (lists of block indices, in
    input order), the schema every block is read with, and each input's identity."""

    blocks: list[Block]
    partitions: list[list[int]]
    schema: pa.Schema
    inputs: list[InputIdentity]

    def partition_blocks(self, index: int) -> list[Block]:
        return [self.blocks[block] for block in self.partitions[index]]

    def partition_rows(self, index: int) -> int:
        return sum(block.rows for block in self.partition_blocks(index))

    def to_json(self) -> dict:
        return {
            "blocks": [asdict(block) for block in self.blocks],
            "partitions": self.partitions,
            "schema": self.schema.serialize().to_pybytes().hex(),
            "inputs": [asdict(identity) for identity in self.inputs],
        }

    @classmethod
    def from_json(cls, data: dict) -> InputPlan:
        schema = pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(data["schema"])))
        return cls(
            [Block(**block) for block in data["blocks"]],
            [list(partition) for partition in data["partitions"]],
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
    """Rows per partition: DEFAULT_PARTITION_ROWS, but at least 4 partitions per worker; for a
    large input more, up to LARGE_PARTITION_ROWS, while every worker still gets 32 or more."""
    workers = max(1, workers)
    spread = math.ceil(total_rows / (4 * workers))
    if spread <= DEFAULT_PARTITION_ROWS:
        return max(MIN_PARTITION_ROWS, spread)
    many = total_rows // (32 * workers)
    return max(DEFAULT_PARTITION_ROWS, min(LARGE_PARTITION_ROWS, many))


def _range_blocks(
    scan: Scan, rows_per_block: int, granularity: int, first_line: int
) -> list[Block]:
    """A range scan's lines in blocks of about ``rows_per_block`` (whole chunks); a block of
    blank lines only holds no row and is left out."""
    step = max(1, rows_per_block // granularity)
    blocks = []
    for index in range(0, len(scan.offsets), step):
        end_index = index + step
        rows = sum(scan.chunk_rows[index:end_index])
        if not rows:
            continue
        stop = scan.offsets[end_index] if end_index < len(scan.offsets) else scan.stop
        blocks.append(
            Block(
                url=scan.url,
                kind="jsonl",
                compression=None,
                start=scan.offsets[index],
                stop=stop,
                first_line=first_line + index * granularity,
                rows=rows,
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


def _whole_block(probe: FileProbe, scan: Scan) -> Block:
    """A file read whole (:func:`reads_whole`) as one block."""
    return Block(
        url=probe.file.url,
        kind=probe.kind,
        compression=probe.file.compression,
        start=0,
        stop=scan.stop,
        first_line=1,
        rows=scan.rows,
        digest=block_digest(scan.chunk_digests),
    )


def _file_blocks(
    probe: FileProbe, scans: list[Scan], rows_per_block: int, granularity: int
) -> list[Block]:
    """One file's blocks, in order."""
    if probe.kind == "parquet":
        return _parquet_blocks(probe, rows_per_block)
    if ScanPiece(probe).whole:
        (scan,) = scans
        return [_whole_block(probe, scan)] if scan.rows else []
    blocks, first_line = [], 1
    for scan in sorted(scans, key=lambda scan: scan.start):
        blocks += _range_blocks(scan, rows_per_block, granularity, first_line)
        first_line += scan.lines
    return blocks


def partitions_of(blocks: Sequence[Block], rows_per_partition: int) -> list[list[int]]:
    """Consecutive blocks grouped into partitions of at most ``rows_per_partition`` rows (a
    larger block alone): the blocks of small files share one."""
    partitions: list[list[int]] = []
    rows = 0
    for index, block in enumerate(blocks):
        if not partitions or rows + block.rows > rows_per_partition:
            partitions.append([])
            rows = 0
        partitions[-1].append(index)
        rows += block.rows
    return partitions


def json_schema(scans: Sequence[Scan]) -> pa.Schema:
    """The columns JSON rows become (:mod:`rollscore.pipeline.inputs.columns`), named as the
    reader reads the keys: an unpaired surrogate (which no column name can hold) as U+FFFD."""
    counts: dict[str, int] = {}
    types: dict[str, set[str]] = {}
    for scan in scans:
        for key, count in scan.key_counts.items():
            name = without_lone_surrogates(key)[0]
            counts[name] = counts.get(name, 0) + count
            types.setdefault(name, set()).update(scan.types[key])
    kept, overflow = kept_columns(counts)
    fields = [(key, column_type(key, types[key])) for key in kept]
    if overflow:
        fields.append((EXTRA_COLUMN, pa.string()))
    return pa.schema(fields)


def plan_inputs(
    files: Sequence[InputFile], client: Client, partition_rows: int | None, workers: int
) -> InputPlan:
    """Probe, scan and slice the files on the cluster's workers; raises :class:`InputError`
    for an unreadable file, or inputs without a row."""
    granularity = partition_rows or INDEX_GRANULARITY
    # an unreadable file raises InputError in its task (reading_input); a cluster lost meanwhile
    # is the caller's to report
    probe_batches = client.map(probe_files, list(_batches(files, lambda _: 0, 1)), pure=False)
    probes = [probe for batch in client.gather(probe_batches) for probe in batch]
    pieces = [piece for probe in probes if probe.kind != "parquet" for piece in _pieces(probe)]
    scan_batches = client.map(
        scan_pieces,
        list(_batches(pieces, lambda piece: piece.size, SCAN_RANGE_BYTES)),
        granularity=granularity,
        pure=False,
    )
    scans: list[Scan] = [scan for batch in client.gather(scan_batches) for scan in batch]
    for probe in probes:
        if probe.schema is not None:
            _check_parquet_columns(probe.file.url, probe.schema.names)
    by_url: dict[str, list[Scan]] = {}
    for scan in scans:
        by_url.setdefault(scan.url, []).append(scan)
    total = sum(scan.rows for scan in scans) + sum(probe.rows for probe in probes)
    rows_per_block = partition_rows or auto_partition_rows(total, workers)
    blocks: list[Block] = []
    identities = []
    for probe in probes:
        file_blocks = _file_blocks(
            probe, by_url.get(probe.file.url, []), rows_per_block, granularity
        )
        blocks += file_blocks
        digest = block_digest(bytes.fromhex(block.digest) for block in file_blocks)
        identities.append(InputIdentity(probe.file.url, probe.size, probe.modified, digest))
    if not blocks:
        raise InputError("the inputs hold no rows")
    schema = input_schema([json_schema(scans), *(probe.schema for probe in probes if probe.schema)])
    return InputPlan(blocks, partitions_of(blocks, rows_per_block), schema, identities)


def _check_parquet_columns(url: str, names: list[str]) -> None:
    """Raise :class:`InputError` for a Parquet file whose columns cannot be read as they are:
    two of one name, or one of the name of rollscore's own problem column."""
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        raise InputError(f"{url} has more than one column named {twice[0]!r}; rename them")
    if INPUT_PROBLEM_COLUMN in names:
        raise InputError(
            f"{url} has a column named {INPUT_PROBLEM_COLUMN!r}, a name rollscore keeps for "
            "itself; rename it"
        )


def read_block(block: Block, schema: pa.Schema) -> pd.DataFrame:
    """The rows of one block, with exactly the columns and types of ``schema``."""
    return read_partition([block], schema)


def read_partition(blocks: Sequence[Block], schema: pa.Schema) -> pd.DataFrame:
    """The rows of a partition's blocks, one after the other, with exactly the columns and
    types of ``schema``: consecutive JSON blocks (of small files, say) read into one frame. The
    time it takes shows as reading in Dask's fine performance metrics."""
    frames = []
    with context_meter.meter("reading"):
        for parquet, run in itertools.groupby(blocks, lambda block: block.kind == "parquet"):
            if parquet:
                frames += [read_parquet_rows(block, schema) for block in run]
            else:
                frames.append(read_json_blocks(list(run), schema))
        return frames[0] if len(frames) == 1 else concat_rows(frames)
