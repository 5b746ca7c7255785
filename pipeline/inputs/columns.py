"""Which columns JSON rollouts become, of which Arrow types, and how a JSON value fits one.

A column's type comes from the JSON types its values have across every file. The scorer's
text columns are always text; ``is_end`` is always a boolean, read from a bool, 0 or 1, or
"true"/"false" (anything else is a bad value with its error). Any other column that mixes
types, or holds lists or objects, is kept as JSON text. At most :data:`MAX_EXTRA_COLUMNS`
other keys become columns (the most frequent); the rest of a row's keys are carried as one
JSON object in :data:`EXTRA_COLUMN`, so a corpus of thousands of distinct keys stays a table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa
from rollscore.pipeline.kernel import INPUT_PROBLEM_COLUMN
from rollscore.pipeline.responses import float_text

TEXT_COLUMNS = ("ground_truth", "response", "message_log", "prompt", "data_source")
"""Always text: the scorer and the metrics read them as strings (other JSON kept as JSON text)."""
KEY_TEXT_COLUMNS = ("ground_truth", "prompt", "data_source")
"""Text whatever a Parquet file typed them, as in JSON: what answers are checked against, and
what the metrics and the rewards' routing group rows by."""
_TEXT_OF_BYTES = {pa.binary(): pa.string(), pa.large_binary(): pa.large_string()}
FLAG_COLUMNS = ("is_end",)
"""Always booleans."""
KNOWN_COLUMNS = (*TEXT_COLUMNS, *FLAG_COLUMNS, "id", "prompt_length", "generation_length")
"""Columns that are always kept, whatever else a row holds."""
MAX_EXTRA_COLUMNS = 64
"""Other keys that become columns of their own; beyond, they are carried in ``EXTRA_COLUMN``."""
EXTRA_COLUMN = "extra_json"
"""A JSON object of each row's keys beyond the kept columns (only when there are such keys)."""
NEVER_KEPT = (EXTRA_COLUMN, INPUT_PROBLEM_COLUMN)
"""Keys that never become columns of their own, but are carried in :data:`EXTRA_COLUMN`: its
own name, and the column where readers hand the kernel each row's problem."""
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


_JSON_TYPES = {
    type(None): "null",
    bool: "bool",
    float: "float",
    str: "str",
    list: "list",
    dict: "dict",
}
"""The JSON type of each Python type json parses into, but ``int``."""


def json_type(value: object) -> str:
    """The JSON type of a value json parsed (of a built-in type, never a subclass, so its type
    is looked up, not tested in turn), integers split by whether they fit 64 bits."""
    kind = _JSON_TYPES.get(type(value))
    if kind is not None:
        return kind
    return "int" if -(2**63) <= value < 2**63 else "bigint"


def column_type(name: str, json_types: set[str]) -> pa.DataType:
    """The Arrow type a column gets from the JSON types its values have across all files."""
    kinds = json_types - {"null"}
    if name in TEXT_COLUMNS:
        return pa.string()
    if name in FLAG_COLUMNS or (kinds and kinds <= {"bool"}):
        return pa.bool_()
    if kinds and kinds <= {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()


def input_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for the rows of every input. :data:`KEY_TEXT_COLUMNS` are text and ``is_end``
    a boolean whatever a file typed them, as from JSON (:func:`column_type`); any other column
    keeps its type where the inputs agree on it (integers and floats meet as floats; a response
    that is no text is the kernel's to refuse, a message log of records its to read), and is
    text (each value's JSON text) where they do not, as a JSON column that mixes types is."""
    types: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for field in schema:
            types.setdefault(field.name, []).append(field.type)
    return pa.schema([(name, _agreed_type(name, found)) for name, found in types.items()])


def _agreed_type(name: str, types: list[pa.DataType]) -> pa.DataType:
    if name in KEY_TEXT_COLUMNS:
        return pa.string()
    if name in FLAG_COLUMNS:
        return pa.bool_()
    try:
        schemas = [pa.schema([(name, arrow_type)]) for arrow_type in types]
        agreed = pa.unify_schemas(schemas, promote_options="permissive").field(name).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.string()
    return read_type(name, agreed)


def read_type(name: str, stored: pa.DataType) -> pa.DataType:
    """The type a column stored as ``stored`` is read as: one of the scorer's text columns in
    bytes (as Parquet writers that predate its UTF-8 annotation, old Hive and Impala, wrote
    text) as text, any other column as it is."""
    return _TEXT_OF_BYTES.get(stored, stored) if name in TEXT_COLUMNS else stored


def kept_columns(key_counts: Mapping[str, int]) -> tuple[list[str], bool]:
    """The keys that become columns (known ones, then the most frequent others), and whether
    some keys are left over for :data:`EXTRA_COLUMN`."""
    known = [key for key in key_counts if key in KNOWN_COLUMNS]
    others = sorted(
        (key for key in key_counts if key not in KNOWN_COLUMNS and key not in NEVER_KEPT),
        key=lambda key: (-key_counts[key], key),
    )
    overflow = len(others) > MAX_EXTRA_COLUMNS or any(key in key_counts for key in NEVER_KEPT)
    return known + others[:MAX_EXTRA_COLUMNS], overflow


def flag_value(name: str, value: object) -> tuple[bool | None, str | None]:
    """A flag column's value as a bool (None when missing), or why it is not one."""
    if value is None or isinstance(value, bool):
        return value, None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value), None
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true", None
    return None, f"{name} is {value!r}, not a boolean (true, false, 1 or 0)"


def cell_reader(arrow_type: pa.DataType) -> Callable[[object], object]:
    """How a JSON value becomes a value of a column of ``arrow_type``: non-strings in a text
    column become JSON text, a float written out in full (:func:`float_text`), a NaN missing
    as it is in a number column. Chosen once per column, not once per value."""
    if pa.types.is_string(arrow_type):
        return _text_cell
    if pa.types.is_floating(arrow_type):
        return _float_cell
    return _same_cell


def _text_cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None  # Python's json writes a missing number (pandas' NaN) so
    if isinstance(value, float) and math.isfinite(value):
        return float_text(value)
    if isinstance(value, (bool, int, float, list, dict)):
        # default: a value JSON has no type for, in a Parquet list or record, as its text
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)  # a Parquet value JSON has no type for: its text (a decimal's "1.50")


def _float_cell(value: object) -> float | None:
    return None if value is None else float(value)


def _same_cell(value: object) -> object:
    return value


def without_lone_surrogates(value: object) -> tuple[object, bool]:
    """``value`` with every unpaired surrogate (text that cannot be encoded, as truncated model
    output gives) replaced by U+FFFD in its strings, nested ones too; and whether any was."""
    if isinstance(value, str):
        cleaned = _LONE_SURROGATE.sub("\ufffd", value)
        return cleaned, cleaned != value
    if isinstance(value, list):
        items = [without_lone_surrogates(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if isinstance(value, dict):
        pairs = [
            (without_lone_surrogates(key), without_lone_surrogates(item))
            for key, item in value.items()
        ]
        cleaned = {key: item for (key, _), (item, _) in pairs}
        return cleaned, any(key_changed or changed for (_, key_changed), (_, changed) in pairs)
    return value, False
