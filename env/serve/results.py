"""The scores of a request's rows as JSON values: what every protocol answers with."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from fastapi.responses import JSONResponse
from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr
from rollscore.pipeline.responses import BadRow

GroundTruth = StrictStr | StrictInt | StrictFloat | StrictBool
"""A ground truth as a request may give it: text, or a number (scored as its text). Strict, so
that a JSON true stays a boolean, which is no ground truth, instead of becoming 1."""


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate a request carried (JSON
    allows it, UTF-8 does not) goes back as the escape it came in as. A NaN or an infinity a
    request carried (Python's json writes them; JSON has none) goes back as null. The routes
    return one directly, so an answer is encoded once, without FastAPI's second pass over it."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, allow_nan=False, separators=(",", ":"))
        except ValueError:  # json's own parser turns each NaN and infinity into null
            finite = json.loads(json.dumps(content), parse_constant=lambda _: None)
            text = json.dumps(finite, allow_nan=False, separators=(",", ":"))
        return text.encode("ascii")


def json_value(value: object) -> object:
    """``value`` as JSON can carry it: a missing value or a NaN becomes null."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


RowResult = dict[str, Any]
"""One scored row: its score columns by name, as JSON values."""


def row_results(scores: pd.DataFrame) -> list[RowResult]:
    """Each scored row as a mapping of its score columns (``reward``, ``correct``, each
    ``reward_<name>``, ``extracted_answer``, ``error``, ``error_kind``), nulls for what is
    missing."""
    columns = list(scores.columns)
    return [
        {column: json_value(value) for column, value in zip(columns, values)}
        for values in zip(*(scores[column].tolist() for column in columns))
    ]


def column_results(rows: list[RowResult], columns: list[str]) -> dict[str, list[Any]]:
    """The score ``columns`` of scored rows, as lists."""
    return {column: [row[column] for row in rows] for column in columns}


ERROR_FIELDS = ("error", "error_kind")
"""The fields a per-sample answer holds only when its row has an error."""


def sample_fields(result: Mapping[str, Any]) -> dict[str, Any]:
    """A row's fields as a per-sample answer gives them: ``error`` and ``error_kind`` only when
    the row has an error."""
    return {
        name: value
        for name, value in result.items()
        if name not in ERROR_FIELDS or result["error_kind"] is not None
    }


def request_with_fields(request: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` with a row's fields (:func:`sample_fields`) in place of its own: an error the
    request carried (a stored answer verified again) is not this verdict's, so it goes."""
    kept = {name: value for name, value in request.items() if name not in ERROR_FIELDS}
    return {**kept, **sample_fields(result)}


def response_after_prompt(query: str, prompt: str | None) -> str:
    """The response in a text that holds its prompt and then the response: what follows the
    prompt. Raises :class:`BadRow` when the prompt is not in the text."""
    if not prompt:
        return query
    if query.startswith(prompt):
        return query[len(prompt) :]
    at = query.find(prompt)
    if at < 0:
        raise BadRow("the query does not contain its prompt, so its response cannot be told apart")
    return query[at + len(prompt) :]
