"""From the inputs a user names (files, globs, folders; local paths or fsspec URLs) to the list
of rollout files they stand for.

An existing path is always taken literally, before it is read as a glob (``data[1].jsonl`` is
that file). Rollout files are JSON (``.jsonl``, ``.ndjson``, ``.json``: JSON lines, or one JSON
array of records) or Parquet; JSON may be compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``, the
last with the ``zstandard`` package). Files of a folder or glob that are not rollouts are
skipped and named; hidden ones (``.name``) silently. A file named twice (``data`` and
``data/a.jsonl``, ``a.jsonl`` and ``./a.jsonl``, or a link and its target) is scored once: a
local file is known by its real path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import fsspec.compression
from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from rollscore.pipeline.errors import InputError
from rollscore.pipeline.output import MANIFEST, is_run_manifest

FORMATS = {".jsonl": "json", ".ndjson": "json", ".json": "json", ".parquet": "parquet"}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
EXPECTED = ".jsonl, .ndjson, .json (optionally .gz, .bz2, .xz, .zst) or .parquet"


@dataclass(frozen=True)
class InputFile:
    """A rollout file: its URL, ``json`` or ``parquet``, and how it is compressed."""

    url: str
    kind: str
    compression: str | None = None


@dataclass
class Discovery:
    """The rollout files the inputs name, in order, the files they held that are not, the
    rollscore output folders they held (never read as input), and the rollout files named
    again (by another input, or another spelling of one), each scored once all the same."""

    files: list[InputFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs_skipped: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)


def uncompressed_name(path: str) -> tuple[str, str | None]:
    """A file's name in lower case without its compression suffix, and the compression."""
    lowered = path.lower()
    compression = next(
        (name for suffix, name in COMPRESSIONS.items() if lowered.endswith(suffix)), None
    )
    return (lowered.rsplit(".", 1)[0] if compression else lowered), compression


def file_format(path: str) -> tuple[str, str | None] | None:
    """``(kind, compression)`` of a rollout file's name, or None if it names none."""
    lowered, compression = uncompressed_name(path)
    kind = next((kind for suffix, kind in FORMATS.items() if lowered.endswith(suffix)), None)
    if kind is None or (kind == "parquet" and compression is not None):
        return None
    return kind, compression


def _expand(given: str) -> tuple[list[str], bool, AbstractFileSystem, str | None]:
    """The files one input names, whether it named a single file, their filesystem, and for a
    glob the folder its pattern starts in."""
    root = None
    try:
        fs, path = url_to_fs(given)
        inside: frozenset[str] = frozenset()
        if fs.isdir(path):
            entries, explicit = fs.find(path, detail=True), False
            inside = frozenset([os.path.realpath(path)])
        elif fs.exists(path):
            entries, explicit = {path: fs.info(path)}, True
        elif any(char in path for char in "*?["):
            entries, explicit = fs.glob(path, detail=True), False
            pattern = min(index for index, char in enumerate(path) if char in "*?[")
            root = path[:pattern].rpartition("/")[0]
        else:
            entries, explicit = None, True
    except (OSError, ValueError, ImportError) as error:
        raise InputError(f"input {given!r}: {error}") from None
    if entries is None:
        raise InputError(f"input {given!r}: no such file or directory")
    return _files(given, fs, entries, inside), explicit, fs, root


def _files(
    given: str, fs: AbstractFileSystem, entries: dict[str, dict], inside: frozenset[str]
) -> list[str]:
    """The files among ``entries`` (fsspec's details of each path), in order. A symbolic link
    (as DVC and git-annex check files out) stands for its target; in a folder, a linked
    folder's files are found under the link's name. ``inside`` holds the real paths of the
    folders being expanded, so a link to one of them (a loop) is not followed. Raises
    :class:`InputError` for a link to nothing, and for a named pipe, socket or device: the
    plan reads a file more than once, and a pipe read twice would wait forever."""
    files = []
    for path, info in entries.items():
        if info.get("islink"):
            try:
                info = fs.info(path)  # of the link's target
            except FileNotFoundError:
                raise InputError(
                    f"input {given!r}: {path} is a link to nothing "
                    f"({os.readlink(path)} does not exist)"
                ) from None
            real = os.path.realpath(path)
            if info["type"] == "directory" and inside and real not in inside:
                files += _files(given, fs, fs.find(path, detail=True), inside | {real})
                continue
        if info["type"] not in ("file", "directory"):
            raise InputError(
                f"input {given!r}: {path} is not a regular file (a pipe, socket or device); "
                "rollscore reads a file more than once: save it to a file first"
            )
        if info["type"] == "file":
            files.append(path)
    return sorted(files)


def _readable(given: str, path: str, compression: str | None) -> None:
    """Raise :class:`InputError` if this machine cannot decompress the file."""
    if compression is not None and compression not in fsspec.compression.compr:
        raise InputError(
            f"input {given!r}: {path} is {compression}-compressed, which needs "
            f"{'the zstandard package' if compression == 'zstd' else compression + ' support'}"
        )


def _output_folders(paths: Sequence[str], fs: AbstractFileSystem, root: str | None) -> list[str]:
    """The folders of ``paths`` that are rollscore outputs: they hold a ``run.json`` that a
    rollscore run wrote. A folder's files hold its outputs' ``run.json``; a glob's matches may
    not (``data/**/*.parquet`` matches an output's parts alone), so for a glob every folder
    from ``root`` down to each match is looked at too."""
    manifests = {path for path in paths if path.rpartition("/")[2] == MANIFEST}
    folders: set[str] = set()
    if root is not None:
        for path in paths:
            folder = path.rpartition("/")[0]
            while folder not in folders and folder.startswith(root) and len(folder) >= len(root):
                folders.add(folder)
                folder = folder.rpartition("/")[0]
    manifests |= {f"{folder}/{MANIFEST}" for folder in folders}
    return [path.rpartition("/")[0] for path in sorted(manifests) if _is_run_manifest(fs, path)]


def _is_run_manifest(fs: AbstractFileSystem, path: str) -> bool:
    try:
        return is_run_manifest(json.loads(fs.cat_file(path)))
    except (OSError, ValueError):
        return False


def discover_inputs(inputs: Sequence[str], skip: str | None = None) -> Discovery:
    """Every rollout file the inputs name, in order, and the other files of their folders;
    never one in a rollscore output folder (``skip``, the run's own, or any other). Raises
    :class:`InputError` if an input matches nothing readable."""
    if not inputs:
        raise InputError("no input given")
    if "" in inputs:
        raise InputError("an input is empty: name a file, folder or glob")
    discovery, named = Discovery(), set()
    for given in inputs:
        paths, explicit, fs, root = _expand(given)
        outputs = _output_folders(paths, fs, root)
        discovery.outputs_skipped += [
            folder for folder in outputs if folder not in discovery.outputs_skipped
        ]
        if skip is not None:
            outputs.append(url_to_fs(skip)[1])
        found = []
        for path in paths:
            if any(path.startswith(folder.rstrip("/") + "/") for folder in outputs):
                continue
            name = path.rsplit("/", 1)[-1]
            form = file_format(path)
            if explicit and form is None:
                raise InputError(f"input {given!r}: unknown format; expected {EXPECTED} files")
            if form is None or name.startswith("."):
                if not name.startswith("."):
                    discovery.skipped.append(path)
                continue
            _readable(given, path, form[1])
            url = path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)
            found.append(InputFile(url, *form))
        if not found:
            raise InputError(f"input {given!r}: no {EXPECTED} files found")
        for file in found:
            identity = os.path.realpath(file.url) if isinstance(fs, LocalFileSystem) else file.url
            if identity in named:
                discovery.repeated.append(file.url)
            else:
                named.add(identity)
                discovery.files.append(file)
    return discovery
