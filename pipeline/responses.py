"""Turning one input row's fields into the strings the rewards score."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real


class BadRow(ValueError):
    """A row whose fields cannot be scored; the message says why."""


def response_from_message_log(message_log: object) -> str:
    """The concatenated ``content`` of the ``assistant`` messages of a conversation.

    Accepts a list of ``{role, content}`` mappings, or the same as JSON text. Raises
    :class:`BadRow` for anything else, for a conversation with no assistant message, or for
    an assistant content that is not a string.
    """
    if isinstance(message_log, str):
        try:
            message_log = json.loads(message_log)
        except json.JSONDecodeError:
            raise BadRow("bad input: message_log is not valid JSON") from None
    if isinstance(message_log, (str, bytes)) or not isinstance(message_log, Sequence):
        if not hasattr(message_log, "tolist"):
            raise BadRow(f"bad input: message_log is {type(message_log).__name__}, not a list")
        message_log = message_log.tolist()
    contents = []
    for message in message_log:
        if not isinstance(message, Mapping):
            raise BadRow("bad input: message_log holds a message that is not a mapping")
        if message.get("role") == "assistant":
            content = message.get("content")
            if not isinstance(content, str):
                raise BadRow(
                    f"bad input: assistant content is {type(content).__name__}, not a string"
                )
            contents.append(content)
    if not contents:
        raise BadRow("bad input: message_log has no assistant message")
    return "".join(contents)


def ground_truth_text(value: object) -> object:
    """A numeric ground truth as its text (``42`` -> ``"42"``); anything else unchanged, for
    batch scoring to accept (a string) or report (missing, or another type)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return value
    if isinstance(value, Integral):
        return str(int(value))
    return str(float(value)) if math.isfinite(value) else None
