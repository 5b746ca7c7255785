"""The output folder: ``scores/part-NNNNN.parquet`` (one per partition), ``run.json`` (the
plan, so an interrupted run can resume exactly) and ``metrics.json``.

Each part is written to a hidden temporary file and renamed into place, so a part that
exists is complete: resuming scores only the parts that do not.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from pipeline.errors import InputError
from pipeline.partition import unavailable_message
from rewards.result import ErrorKind

SCORES = "scores"
MANIFEST = "run.json"
METRICS = "metrics.json"
REPORT = "report.html"
SCORED_COLUMNS = ("reward", "correct", "error", "error_kind")
"""Columns every scored part has; a dataset without them is not one."""


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


@dataclass(frozen=True)
class OutputDir:
    """A local path or fsspec URL of an output folder."""

    url: str

    @property
    def _fs(self):
        return url_to_fs(self.url)

    def path(self, *names: str) -> str:
        """A URL inside the folder, openable with fsspec by any worker."""
        return "/".join([self.url.rstrip("/"), *names])

    @property
    def scores(self) -> str:
        return self.path(SCORES)

    def holds_results(self) -> bool:
        fs, root = self._fs
        return fs.exists(f"{root}/{MANIFEST}") or bool(self.finished_parts())

    def finished_parts(self) -> set[int]:
        """Indices of the parts already written."""
        fs, root = self._fs
        if not fs.isdir(f"{root}/{SCORES}"):
            return set()
        names = (path.rsplit("/", 1)[-1] for path in fs.ls(f"{root}/{SCORES}", detail=False))
        return {
            int(name[5:10])
            for name in names
            if name.startswith("part-") and name.endswith(".parquet") and name[5:10].isdigit()
        }

    def clear(self) -> None:
        """Remove the results of an earlier run (only the files a run writes)."""
        fs, root = self._fs
        for name in (SCORES, MANIFEST, METRICS, REPORT):
            if fs.exists(f"{root}/{name}"):
                fs.rm(f"{root}/{name}", recursive=True)

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        fs, root = self._fs
        fs.makedirs(f"{root}/{SCORES}", exist_ok=True)
        with fs.open(f"{root}/{name}", "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=False, default=str)
            handle.write("\n")

    def read_json(self, name: str) -> dict[str, Any] | None:
        fs, root = self._fs
        if not fs.exists(f"{root}/{name}"):
            return None
        with fs.open(f"{root}/{name}", "r") as handle:
            return json.load(handle)


@dataclass(frozen=True)
class PartWritten:
    """What writing one scored partition did: its row, error and timeout counts for the
    progress line, or why it was not written (its scoring process could not start)."""

    rows: int
    errors: int
    timeouts: int
    unavailable: str | None = None


def write_scored_part(frame: pd.DataFrame, url: str, schema: pa.Schema) -> PartWritten:
    """Write one scored partition atomically, unless nothing in it could be scored."""
    unavailable = unavailable_message(frame)
    if unavailable is not None:
        return PartWritten(0, 0, 0, unavailable)
    write_part(frame, url, schema)
    kinds = frame["error_kind"]
    timeouts = (kinds == ErrorKind.TIMEOUT.value).fillna(False)
    return PartWritten(len(frame), int(kinds.notna().sum()), int(timeouts.sum()))


def write_part(frame: pd.DataFrame, url: str, schema: pa.Schema) -> None:
    """Write one partition atomically: to a hidden temporary file, renamed into place."""
    fs, path = url_to_fs(url)
    folder, name = path.rsplit("/", 1)
    temporary = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
    # without pandas' metadata, readers get plain pandas dtypes rather than ArrowDtype ones
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    table = table.replace_schema_metadata(None)
    fs.makedirs(folder, exist_ok=True)
    with fs.open(temporary, "wb") as handle:
        pq.write_table(table, handle)
    fs.mv(temporary, path)


def scored_columns(outdir: str) -> list[str]:
    """The columns of the scored dataset in ``outdir``; raises :class:`InputError` when the
    folder is missing or holds no scored parts."""
    fs, root = url_to_fs(outdir)
    if not fs.isdir(root):
        raise InputError(f"{outdir} does not exist or is not a folder")
    output = OutputDir(outdir)
    parts = sorted(output.finished_parts())
    if not parts:
        raise InputError(f"{outdir} is not a scored dataset: no {SCORES}/part-*.parquet in it")
    first = f"{SCORES}/{part_name(parts[0])}"
    try:
        with fsspec.open(output.path(first), "rb") as handle:
            names = pq.read_schema(handle).names
    except (OSError, pa.ArrowException) as error:
        raise InputError(f"{outdir}: {first} is not a readable Parquet file ({error})") from None
    missing = [name for name in SCORED_COLUMNS if name not in names]
    if missing:
        raise InputError(
            f"{outdir} is not a scored dataset: {first} has no {', '.join(missing)} column"
        )
    return names
