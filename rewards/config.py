"""The scoring configuration: read from a mapping or YAML, validated whole before any work.

```yaml
num_workers: 8            # partitions / parallel scoring slots for one step
stop_strings: null        # default next stop strings
sample_timeout: 5.0       # seconds one sample may spend in math-verify or a user's function
sample_memory_mb: 4096    # memory the scoring process may use for one such sample
monitor: true             # report what is scored to the Dask scheduler (/metrics, its page)
reward_functions:
  - {name: format, weight: 0.2}
  - {name: math_expr, weight: 0.8, kwargs: {tag: answer}}
by_data_source:           # optional: other rewards for rows of some data sources
  geometry: {reward_functions: [{name: geo3k, weight: 1.0}]}
```
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from rollscore.rewards.combine import normalised_weights
from rollscore.rewards.errors import ConfigError, UnknownReward
from rollscore.rewards.experiment_yaml import read_section
from rollscore.rewards.registry import check_reward, column_label, reward_named
from rollscore.rewards.verifier.requests import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIME_LIMIT,
    MAX_TIME_LIMIT,
    SampleLimits,
)

TOP_LEVEL_KEYS = (
    "num_workers",
    "stop_strings",
    "sample_timeout",
    "sample_memory_mb",
    "monitor",
    "reward_functions",
    "by_data_source",
)
MAX_CONFIG_VALUES = 100_000
"""More values than any real configuration holds, counting a YAML alias each time it is used."""
MAX_CONFIG_BYTES = 8 * 2**20
"""More bytes than any real config file holds: a file past this (a data file, ``/dev/zero``)
is refused, not read into memory whole."""
MIN_MEMORY_MB = 1024
"""Less than this and a scoring process could not score math: math-verify and sympy alone
need a few hundred megabytes."""
ENTRY_KEYS = ("name", "weight", "kwargs")


@dataclass(frozen=True)
class RewardSpec:
    """One configured reward: which function, its weight, its keyword arguments, its column."""

    name: str
    weight: float
    kwargs: tuple[tuple[str, Any], ...] = ()
    label: str = ""

    @property
    def column(self) -> str:
        return f"reward_{self.label}"


@dataclass(frozen=True)
class RewardSet:
    """The reward functions applied together to a row, with weights normalised to sum 1."""

    specs: tuple[RewardSpec, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class ScoringConfig:
    """A validated configuration: small, frozen and picklable, so it travels to workers."""

    rewards: RewardSet
    by_data_source: tuple[tuple[str, RewardSet], ...] = ()
    num_workers: int | None = None
    stop_strings: tuple[str, ...] | None = None
    sample_timeout: float = DEFAULT_TIME_LIMIT
    sample_memory_mb: int = DEFAULT_MEMORY_MB
    monitor: bool = field(default=True, compare=False)
    """Whether scoring on a cluster reports its figures to the scheduler (Prometheus, the
    dashboard page); it changes no score, so two configs that differ only here are equal."""
    _by_source: dict[str, RewardSet] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_source", dict(self.by_data_source))

    def rewards_for(self, data_source: object) -> RewardSet:
        """The reward set for rows of ``data_source``: its own if configured, else the default."""
        if self._by_source and isinstance(data_source, str):
            return self._by_source.get(data_source, self.rewards)
        return self.rewards

    @property
    def sample_limits(self) -> SampleLimits:
        """The time and memory one reward call may take on one sample."""
        return SampleLimits(self.sample_timeout, self.sample_memory_mb)

    def to_mapping(self) -> dict[str, Any]:
        """The configuration as the plain mapping :func:`load_config` reads back to it."""

        def entries(reward_set: RewardSet) -> list[dict[str, Any]]:
            return [
                {"name": spec.name, "weight": spec.weight, "kwargs": dict(spec.kwargs)}
                for spec in reward_set.specs
            ]

        return {
            "num_workers": self.num_workers,
            "stop_strings": None if self.stop_strings is None else list(self.stop_strings),
            "sample_timeout": self.sample_timeout,
            "sample_memory_mb": self.sample_memory_mb,
            "monitor": self.monitor,
            "reward_functions": entries(self.rewards),
            "by_data_source": {
                source: {"reward_functions": entries(reward_set)}
                for source, reward_set in self.by_data_source
            },
        }

    @property
    def uses_scoring_processes(self) -> bool:
        """Whether some reward uses the scoring processes (math-verify or a user's function)."""
        reward_sets = (self.rewards, *(reward_set for _, reward_set in self.by_data_source))
        return any(
            reward_named(spec.name).uses_scoring_processes
            for reward_set in reward_sets
            for spec in reward_set.specs
        )

    @property
    def component_columns(self) -> list[str]:
        """Every ``reward_<label>`` column, default set first, in configuration order."""
        columns: dict[str, None] = {}
        for reward_set in (self.rewards, *(rs for _, rs in self.by_data_source)):
            columns.update((spec.column, None) for spec in reward_set.specs)
        return list(columns)


def load_config(
    source: ScoringConfig | Mapping[str, Any] | str | os.PathLike[str],
    section: str | None = None,
) -> ScoringConfig:
    """Read and validate a configuration from a mapping or a YAML file path; with ``section``,
    from that section of a NeMo-RL experiment file (``env.clevr-cogent``), as the file is
    (:mod:`rollscore.rewards.experiment_yaml`), its keys rollscore does not use ignored.

    Raises :class:`ConfigError` (a ``ValueError``) with one line naming what is wrong.
    """
    if isinstance(source, ScoringConfig):
        return source
    if section is not None:
        if not isinstance(source, (str, os.PathLike)):
            raise ConfigError("config: a section is read from a YAML file, not from a mapping")
        found = read_section(os.fspath(source), section, _read_yaml)
        source = {key: value for key, value in found.items() if key in TOP_LEVEL_KEYS}
    elif isinstance(source, (str, os.PathLike)):
        source = _read_yaml(os.fspath(source))
    if not isinstance(source, Mapping):
        raise ConfigError(f"config must be a mapping, not {type(source).__name__}")
    _check_size(source)
    unknown = sorted(set(source) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"config: unknown key(s) {unknown}; allowed: {', '.join(TOP_LEVEL_KEYS)}")
    if "reward_functions" not in source:
        raise ConfigError("config: 'reward_functions' is missing")
    return ScoringConfig(
        rewards=_reward_set(source["reward_functions"], "reward_functions"),
        by_data_source=_by_data_source(source.get("by_data_source")),
        num_workers=_num_workers(source.get("num_workers")),
        stop_strings=_stop_strings(source.get("stop_strings")),
        sample_timeout=_sample_timeout(source.get("sample_timeout", DEFAULT_TIME_LIMIT)),
        sample_memory_mb=_sample_memory_mb(source.get("sample_memory_mb", DEFAULT_MEMORY_MB)),
        monitor=_monitor(source.get("monitor", True)),
    )


def _check_size(source: Mapping[str, Any]) -> None:
    """Refuse a config that expands past :data:`MAX_CONFIG_VALUES` values, counting a shared
    value (a YAML alias) each time it is used: a kilobyte of nested aliases would otherwise
    become hundreds of megabytes wherever the config is written out or passed on."""
    pending: list[object] = [source]
    for _ in range(MAX_CONFIG_VALUES):
        if not pending:
            return
        value = pending.pop()
        if isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
    if pending:
        raise ConfigError(
            f"config: expands to more than {MAX_CONFIG_VALUES:,} values "
            "(nested YAML aliases?); refused"
        )


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: YAML forbids it, and
    PyYAML would keep the last silently (a second ``reward_functions:`` replacing the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *base``: its keys may be given again, overriding the base's
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool, type(None))):
                continue  # a list or mapping as a key: the safe loader refuses it, in one line
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            keys.add(key)
        return super().construct_mapping(node, deep)


def _read_yaml(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"config file {path} holds more than {MAX_CONFIG_BYTES // 2**20} MB, more than "
                "any config: is it the right file?"
            )
        # decoded whole, so that an error's line and column are exact
        return yaml.load(data.decode("utf-8"), Loader=_ConfigLoader)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"config file {path}{where} is not valid YAML: {problem}") from None


def _reward_set(entries: Any, where: str) -> RewardSet:
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"config: {where} must be a non-empty list of reward functions")
    specs = [_reward_spec(entry, f"{where}[{index}]") for index, entry in enumerate(entries)]
    try:
        weights = normalised_weights(
            [spec.weight for spec in specs],
            [f"{where}[{index}] ({spec.name!r})" for index, spec in enumerate(specs)],
        )
    except ValueError as error:
        raise ConfigError(f"config: {error}") from None
    seen: dict[str, int] = {}
    labelled = []
    for spec in specs:
        base = column_label(spec.name)
        seen[base] = seen.get(base, 0) + 1
        label = base if seen[base] == 1 else f"{base}_{seen[base]}"
        labelled.append(RewardSpec(spec.name, float(spec.weight), spec.kwargs, label))
    return RewardSet(tuple(labelled), tuple(weights))


def _reward_spec(entry: Any, where: str) -> RewardSpec:
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"config: {where} must be a mapping with 'name' and 'weight', not {entry!r}"
        )
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ConfigError(
            f"config: {where}: unknown key(s) {unknown}; allowed: {', '.join(ENTRY_KEYS)}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"config: {where}: 'name' must be a reward function name, not {name!r}")
    label = f"{where} ({name!r})"
    if "weight" not in entry:
        raise ConfigError(f"config: {label}: 'weight' is missing")
    kwargs = entry.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise ConfigError(f"config: {label}: kwargs must be a mapping, not {kwargs!r}")
    try:  # a run records its config as JSON, which has no NaN or infinity
        json.dumps(dict(kwargs), allow_nan=False, default=str)
    except ValueError:
        raise ConfigError(
            f"config: {label}: kwargs {dict(kwargs)} hold a NaN or an infinity, which a run "
            "cannot record"
        ) from None
    try:
        check_reward(name, dict(kwargs))
    except UnknownReward as error:
        raise ConfigError(f"config: {label}: {error}") from None
    except TypeError as error:
        raise ConfigError(f"config: {label}: bad kwargs {dict(kwargs)}: {error}") from None
    return RewardSpec(name, entry["weight"], tuple(sorted(kwargs.items())))


def _by_data_source(value: Any) -> tuple[tuple[str, RewardSet], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError(
            "config: by_data_source must map data sources to {reward_functions: [...]}"
        )
    sets = []
    for source, section in value.items():
        where = f"by_data_source[{source!r}]"
        if not isinstance(section, Mapping) or set(section) != {"reward_functions"}:
            raise ConfigError(f"config: {where} must be a mapping with only 'reward_functions'")
        sets.append(
            (str(source), _reward_set(section["reward_functions"], f"{where}.reward_functions"))
        )
    return tuple(sets)


def _num_workers(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"config: num_workers must be a positive integer, not {value!r}")
    return value


def _monitor(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"config: monitor must be true or false, not {value!r}")
    return value


def _stop_strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"config: stop_strings must be null or a list of strings, not {value!r}")
    return tuple(value)


def _sample_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"config: sample_timeout must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or not 0 < value <= MAX_TIME_LIMIT:
        raise ConfigError(
            f"config: sample_timeout must be more than 0 and at most {MAX_TIME_LIMIT:g} seconds, "
            f"not {value!r}"
        )
    return float(value)


def _sample_memory_mb(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_MEMORY_MB:
        raise ConfigError(
            f"config: sample_memory_mb must be a whole number of megabytes, at least "
            f"{MIN_MEMORY_MB}, not {value!r}"
        )
    return value
