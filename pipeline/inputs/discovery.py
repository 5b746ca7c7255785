"""From the inputs a user names (files, globs, folders; local paths or fsspec URLs) to the list
of rollout files they stand for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from pipeline.errors import InputError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class InputFile:
    url: str
    kind: str


def _kind(path: str) -> str | None:
    lowered = path.lower()
    return next((kind for suffix, kind in FORMATS.items() if lowered.endswith(suffix)), None)


def _expand(given: str) -> tuple[list[str], bool, AbstractFileSystem]:
    """The paths one input names, whether it named a single file, and their filesystem."""
    try:
        fs, path = url_to_fs(given)
        if any(char in path for char in "*?["):
            return sorted(fs.glob(path)), False, fs
        if fs.isdir(path):
            return sorted(fs.find(path)), False, fs
        if fs.isfile(path):
            return [path], True, fs
    except (OSError, ValueError, ImportError) as error:
        raise InputError(f"input {given!r}: {error}") from None
    raise InputError(f"input {given!r}: no such file or directory")


def discover_inputs(inputs: Sequence[str]) -> list[InputFile]:
    """Every rollout file the inputs name, in order; raises :class:`InputError` if an input
    matches nothing readable."""
    if not inputs:
        raise InputError("no input given")
    found: list[InputFile] = []
    for given in inputs:
        paths, explicit, fs = _expand(given)
        if explicit and _kind(paths[0]) is None:
            raise InputError(
                f"input {given!r}: unknown format; expected {', '.join(sorted(FORMATS))} files"
            )
        matched = [
            InputFile(path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path), kind)
            for path in paths
            if (kind := _kind(path)) is not None and not path.rsplit("/", 1)[-1].startswith(".")
        ]
        if not matched:
            raise InputError(f"input {given!r}: no {', '.join(sorted(FORMATS))} files found")
        found.extend(matched)
    return found
