"""The rewards of a NeMo-RL experiment YAML, read as the file is: its ``defaults`` parents merged
in, the section a dotted path names (``env.clevr-cogent``) taken, and the ``${path.to.value}``
references in it resolved against the whole merged document.

As NeMo-RL reads a file: ``defaults`` is one file or a list, relative to the file naming them,
merged in order and then overridden by the file; mappings merge key by key, unless the child's
mapping says ``_override_: true``. The section's keys rollscore does not use (NeMo-RL's own) are
ignored. OmegaConf's relative references (``${.x}``) and resolvers (``${mul:...}``) are not
resolved: a section that needs one is refused, naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rollscore.rewards.errors import ConfigError

OVERRIDE = "_override_"
MAX_REFERENCE_DEPTH = 32
"""References to references are followed this far; further is a cycle."""


def read_section(path: str, section: str, read_yaml) -> dict[str, Any]:
    """The mapping at ``section`` of the experiment file ``path`` (and its parents), references
    resolved. ``read_yaml(path)`` loads one file (so its errors are the config's own)."""
    document = _with_defaults(Path(path), read_yaml, ())
    value: Any = document
    walked = []
    for key in section.split("."):
        if not isinstance(value, Mapping) or key not in value:
            where = f"'{'.'.join(walked)}'" if walked else "the top level"
            known = ", ".join(map(str, value)) if isinstance(value, Mapping) else "no sections"
            raise ConfigError(
                f"config file {path} has no section {section!r} ({where} has: {known})"
            )
        value, walked = value[key], [*walked, key]
    if not isinstance(value, Mapping):
        raise ConfigError(f"config file {path}: section {section!r} is not a mapping")
    return _resolved(value, document, f"config file {path} section {section!r}", 0)


def _with_defaults(path: Path, read_yaml, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The file's mapping with its ``defaults`` parents merged under it."""
    if path.resolve() in seen:
        raise ConfigError(f"config file {path}: its defaults come back to it")
    document = read_yaml(str(path))
    if not isinstance(document, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping")
    document = dict(document)
    parents = document.pop("defaults", None) or []
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        parent_path = Path(parent) if Path(parent).is_absolute() else path.parent / parent
        merged = _merged(merged, _with_defaults(parent_path, read_yaml, (*seen, path.resolve())))
    return _merged(merged, document)


def _merged(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``: mappings merged key by key unless ``_override_: true``."""
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            if value.get(OVERRIDE):
                merged[key] = {k: v for k, v in value.items() if k != OVERRIDE}
            else:
                merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolved(value: Any, document: Mapping[str, Any], where: str, depth: int) -> Any:
    """``value`` with its ``${path}`` references replaced by what they name in ``document``."""
    if depth > MAX_REFERENCE_DEPTH:
        raise ConfigError(f"{where}: its references refer to each other in a cycle")
    if isinstance(value, Mapping):
        return {key: _resolved(item, document, where, depth) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, document, where, depth) for item in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    pieces = []
    position = 0
    for start, stop in _references(value, where):
        reference = value[start + 2 : stop - 1]
        referred = _resolved(_lookup(reference, document, where), document, where, depth + 1)
        if (start, stop) == (0, len(value)):
            return referred  # the value is the reference: it takes the referred value's type
        pieces += [value[position:start], str(referred)]
        position = stop
    return "".join([*pieces, value[position:]])


def _references(text: str, where: str) -> list[tuple[int, int]]:
    """Where each outermost ``${...}`` of ``text`` starts and ends (nested ones inside it)."""
    spans, depth, start = [], 0, 0
    for position, char in enumerate(text):
        if text.startswith("${", position):
            if depth == 0:
                start = position
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, position + 1))
    if depth:
        raise ConfigError(f"{where}: {text!r} opens a reference it does not close")
    return spans


def _lookup(reference: str, document: Mapping[str, Any], where: str) -> Any:
    if not reference or reference.startswith(".") or ":" in reference:
        raise ConfigError(
            f"{where}: cannot resolve ${{{reference}}} (rollscore resolves references to "
            "absolute paths, such as ${cluster.gpus_per_node}, only)"
        )
    value: Any = document
    for key in reference.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise ConfigError(f"{where}: ${{{reference}}} names nothing in the file")
        value = value[key]
    return value
