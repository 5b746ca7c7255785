"""A block: the slice of one input file that becomes one partition."""

from __future__ import annotations

from dataclasses import dataclass

from rollscore.pipeline.errors import InputChanged


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


def input_changed(block: Block) -> InputChanged:
    """The error of a block whose input changed since the run planned it: reading it would mix
    two versions of the file, so the task that reads it raises this."""
    return InputChanged(f"input {block.url} changed since the run was planned")
