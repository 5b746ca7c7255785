"""A block: the slice of one input file that becomes one partition."""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
from rollscore.pipeline.errors import InputChanged, InputError

UNREADABLE = (OSError, EOFError, pa.ArrowException, zlib.error, lzma.LZMAError)
"""What reading a file that is not what its name says raises (not gzip, cut short, not
Parquet, pages damaged)."""


@dataclass(frozen=True)
class Block:
    """Bytes ``[start, stop)`` of a plain JSON-lines file starting at line ``first_line``; the
    whole of a JSON file read whole (compressed, an array, or in UTF-16 or UTF-32); or rows
    ``[start, stop)`` of a Parquet file. ``digest`` is what its bytes (JSON) or the file's
    footer (Parquet) hashed to when planned: a block whose input changed since is never
    scored."""

    url: str
    kind: str
    """``jsonl`` (in UTF-8), ``jsonl_wide`` (in UTF-16 or UTF-32), ``json_array`` or
    ``parquet``."""
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


@contextmanager
def reading_input(url: str) -> Iterator[None]:
    """Reading input file ``url``: an error of :data:`UNREADABLE` becomes one line of
    :class:`InputError` naming the file, which the command reports and the workers do not."""
    try:
        yield
    except UNREADABLE as error:
        why = " ".join(str(error).split())
        raise InputError(f"cannot read input {url}: {why}") from None
