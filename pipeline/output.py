"""The output folder: ``scores/part-NNNNN.parquet`` (one per partition), ``run.json`` (the
plan, so an interrupted run can resume exactly) and ``metrics.json``.

Every file is written to a hidden temporary file and renamed into place, so a file that exists
is complete: resuming scores only the parts that do not, and a full disk never leaves a torn
``run.json``. A run holds :class:`OutputLock` on its folder, so two runs never mix their parts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from rollscore.pipeline.errors import InputError, OutputLocked, OutputUnwritable
from rollscore.rewards.result import ErrorKind

SCORES = "scores"
MANIFEST = "run.json"
METRICS = "metrics.json"
REPORT = "report.html"
SCORED_COLUMNS = ("reward", "correct", "error", "error_kind")
"""Columns every scored part has; a dataset without them is not one."""
LOCK = ".rollscore.lock"
PART = re.compile(r"part-(\d+)\.parquet")
TEMPORARY = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")
"""A file :func:`atomic_output` writes before renaming it into place."""
PART_LABEL = b"rollscore.part"
"""The key of a part's Parquet metadata holding its label (:func:`part_label`)."""
RUN_ID = "run"
"""The key of ``run.json`` holding the run's identifier, which labels its parts."""
VERIFIER_STACK = "verifier_stack"
"""The key of ``run.json`` and of ``metrics.json``'s ``run`` holding the verifier stack the
run's verdicts came from (:mod:`rollscore.rewards.verifier.stack`)."""
OWN_FILES = "files"
"""The key of ``run.json`` listing the files of the folder that the run wrote: the only ones
``--overwrite`` removes."""


def missing_scored_columns(names: list[str]) -> list[str]:
    """The :data:`SCORED_COLUMNS` a part of columns ``names`` lacks: a part edited by hand
    (or a file that is none) that the metrics cannot read."""
    return [name for name in SCORED_COLUMNS if name not in names]


def written_part(url: str) -> tuple[int, str] | None:
    """The rows of a written part, read whole, and its label (:func:`part_label`): a Dask
    task. None when it does not read, or lacks a scored column (cut short or edited by hand,
    say)."""
    try:
        with fsspec.open(url, "rb") as handle:
            table = pq.read_table(handle)
    except (OSError, pa.ArrowException):
        return None
    if missing_scored_columns(table.column_names):
        return None
    label = (table.schema.metadata or {}).get(PART_LABEL, b"")
    return table.num_rows, label.decode("utf-8", "replace")


def is_run_manifest(manifest: object) -> bool:
    """Whether a ``run.json``'s content is a rollscore run's: it names the run's inputs, config
    and plan. A user's own ``run.json`` (an experiment's notes, say) is not."""
    return isinstance(manifest, dict) and {"inputs", "config", "plan"} <= set(manifest)


def own_files(manifest: dict[str, Any]) -> list[str]:
    """The files a ``run.json`` lists as its run's own, each a name a run writes (``run.json``,
    ``metrics.json``, ``report.html``, ``scores/part-N.parquet``): nothing else is ever removed
    for it. Raises ValueError saying what else it lists (a hand-edited ``run.json``, say)."""
    names = manifest[OWN_FILES]
    if not isinstance(names, list):
        raise ValueError(f"lists its files as {names!r}, not as a list")
    for name in names:
        parts = name.split("/") if isinstance(name, str) else []
        written = parts in ([MANIFEST], [METRICS], [REPORT]) or (
            len(parts) == 2 and parts[0] == SCORES and PART.fullmatch(parts[1]) is not None
        )
        if not written:
            raise ValueError(f"lists {name!r}, which no rollscore run writes")
    return names


def part_name(index: int, parts: int) -> str:
    """The file name of part ``index`` of ``parts``: zero-padded to one width for the whole
    run (five digits at least), so the names sort in order whatever the count."""
    width = max(5, len(str(parts - 1)))
    return f"part-{index:0{width}d}.parquet"


def part_label(run_id: str, index: int) -> str:
    """What a part records of where it belongs: its run and partition. A resumed run keeps
    only the parts labelled as its own at their place, so a part copied from another
    partition or another run (a whole, valid file) is scored again, not taken for that one."""
    return f"{run_id}/{index}"


def absolute(url: str) -> str:
    """A local path made absolute, so that a worker started in another folder finds the same
    file; a URL with a protocol (``s3://``) as it is."""
    return url if "://" in url else os.path.abspath(url)


@dataclass(frozen=True)
class OutputDir:
    """An output folder: an absolute local path or an fsspec URL."""

    url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", absolute(self.url))

    @property
    def _fs(self):
        return url_to_fs(self.url)

    def path(self, *names: str) -> str:
        """A URL inside the folder, openable with fsspec by any worker."""
        return "/".join([self.url.rstrip("/"), *names])

    @property
    def scores(self) -> str:
        return self.path(SCORES)

    def has(self, name: str) -> bool:
        fs, root = self._fs
        return fs.exists(f"{root}/{name}")

    def is_empty(self) -> bool:
        """Whether the folder holds nothing but rollscore's lock and temporary files."""
        fs, root = self._fs
        root = root.rstrip("/")
        names = [path.rsplit("/", 1)[-1] for path in fs.find(root, withdirs=True) if path != root]
        return all(name == LOCK or TEMPORARY.fullmatch(name) for name in names)

    def remove_run(self, manifest: dict[str, Any]) -> None:
        """Remove the files an earlier run listed as its own (:func:`own_files`), and nothing
        else."""
        fs, root = self._fs
        for name in own_files(manifest):
            if name != MANIFEST and fs.isfile(f"{root}/{name}"):
                fs.rm_file(f"{root}/{name}")

    def part_files(self) -> dict[int, str]:
        """The parts already written: their file names by index."""
        fs, root = self._fs
        if not fs.isdir(f"{root}/{SCORES}"):
            return {}
        names = (path.rsplit("/", 1)[-1] for path in fs.ls(f"{root}/{SCORES}", detail=False))
        return {int(match[1]): name for name in names if (match := PART.fullmatch(name))}

    def part_urls(self) -> list[str]:
        """The URLs of the parts already written, in part order."""
        return [self.path(SCORES, name) for _, name in sorted(self.part_files().items())]

    def finished_parts(self) -> set[int]:
        """Indices of the parts already written."""
        return set(self.part_files())

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        """Write ``name`` atomically: complete, or as it was before."""
        text = json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"
        with atomic_output(self.path(name)) as handle:
            handle.write(text.encode())

    def read_json(self, name: str) -> dict[str, Any] | None:
        """``name``'s content, None if it does not exist; :class:`InputError` if it is not JSON."""
        fs, root = self._fs
        if not fs.exists(f"{root}/{name}"):
            return None
        with fs.open(f"{root}/{name}", "r") as handle:
            try:
                return json.load(handle)
            except ValueError as error:
                raise InputError(f"{self.path(name)} is not valid JSON ({error})") from None

    def lock(self) -> OutputLock:
        """Take the folder for this run; :class:`OutputLocked` if a live run holds it."""
        return OutputLock.take(self)


@contextlib.contextmanager
def atomic_output(url: str) -> Iterator[IO[bytes]]:
    """A handle on a hidden temporary file beside ``url``, renamed into place once the block
    ends without an error, and removed otherwise (a full disk, say)."""
    fs, path = url_to_fs(url)
    folder, name = path.rsplit("/", 1)
    temporary = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
    fs.makedirs(folder, exist_ok=True)
    try:
        with fs.open(temporary, "wb") as handle:
            yield handle
        fs.mv(temporary, path)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)


@dataclass
class OutputLock:
    """A run's hold on its output folder. On a local disk, an exclusive ``flock`` of
    ``OUTDIR/.rollscore.lock``, which the system releases when the process ends however it
    ends; elsewhere, that file naming its holder, taken over once no process of that id lives
    on this machine."""

    url: str
    handle: IO[str] | None

    @classmethod
    def take(cls, output: OutputDir) -> OutputLock:
        fs, root = url_to_fs(output.url)
        fs.makedirs(root, exist_ok=True)
        holder = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        )
        path = f"{root}/{LOCK}"
        if isinstance(fs, LocalFileSystem):
            # read and written in place: in append mode every write would go to the end
            handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o666), "r+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                said = handle.read()
                handle.close()
                raise OutputLocked(_locked_message(output.url, said)) from None
            handle.seek(0)
            handle.write(holder)  # over the old holder, then cut: no new space on a full disk
            handle.truncate()
            handle.flush()
            return cls(output.url, handle)
        if fs.exists(path):
            said = fs.cat_file(path).decode(errors="replace")
            if _holder_lives(said):
                raise OutputLocked(_locked_message(output.url, said))
        fs.pipe_file(path, holder.encode())
        return cls(output.url, None)

    def release(self) -> None:
        """Let the folder go (the local lock file stays: another run may be waiting on it)."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            return
        fs, root = url_to_fs(self.url)
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(f"{root}/{LOCK}")


def _holder_lives(said: str) -> bool:
    """Whether the lock file's holder may still run: on this machine, if its process lives;
    on another machine, always (there is no telling)."""
    try:
        holder = json.loads(said)
        host, pid = holder["host"], int(holder["pid"])
    except (ValueError, KeyError, TypeError):
        return False  # not a holder anyone wrote: a torn file of a dead run
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _locked_message(url: str, said: str) -> str:
    try:
        holder = json.loads(said)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["since"]))
        who = f" (process {holder['pid']} on {holder['host']}, since {since})"
    except (ValueError, KeyError, TypeError):
        who = ""
    return (
        f"output {url} is in use by another rollscore run{who}: wait for it, or use another folder"
    )


@dataclass(frozen=True)
class PartWritten:
    """What writing one scored partition did: its row, error and timeout counts for the
    progress line."""

    rows: int
    errors: int
    timeouts: int


def write_scored_part(frame: pd.DataFrame, url: str, schema: pa.Schema, label: str) -> PartWritten:
    """Write one scored partition atomically (:func:`atomic_output`), labelled ``label``
    (:func:`part_label`)."""
    # pandas' metadata is left out: readers then get plain pandas dtypes, not ArrowDtype ones
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    table = table.replace_schema_metadata({PART_LABEL: label.encode()})
    try:
        with atomic_output(url) as handle:
            pq.write_table(table, handle)
    except OSError as error:
        raise OutputUnwritable(f"cannot write {url}: {error.strerror or error}") from None
    kinds = frame["error_kind"]
    timeouts = (kinds == ErrorKind.TIMEOUT.value).fillna(False)
    return PartWritten(len(frame), int(kinds.notna().sum()), int(timeouts.sum()))


def scored_columns(outdir: str) -> list[str]:
    """The columns of the scored dataset in ``outdir``; raises :class:`InputError` when the
    folder is missing or holds no scored parts."""
    fs, root = url_to_fs(outdir)
    if not fs.isdir(root):
        raise InputError(f"{outdir} does not exist or is not a folder")
    output = OutputDir(outdir)
    parts = output.part_files()
    if not parts:
        raise InputError(f"{outdir} is not a scored dataset: no {SCORES}/part-*.parquet in it")
    first = f"{SCORES}/{parts[min(parts)]}"
    try:
        with fsspec.open(output.path(first), "rb") as handle:
            names = pq.read_schema(handle).names
    except (OSError, pa.ArrowException) as error:
        raise InputError(f"{outdir}: {first} is not a readable Parquet file ({error})") from None
    missing = missing_scored_columns(names)
    if missing:
        raise InputError(
            f"{outdir} is not a scored dataset: {first} has no {', '.join(missing)} column"
        )
    return names
