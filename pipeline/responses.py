"""Turning one input row's fields into the strings the rewards score."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from numbers import Integral, Real


class BadRow(ValueError):
    """A row whose fields cannot be scored; the message says why."""


def is_mapping(value: object) -> bool:
    """``isinstance(value, Mapping)``, answered without the abstract class's check for a plain
    ``dict``, the usual case (a training step asks it twice per sample)."""
    return type(value) is dict or isinstance(value, Mapping)


def _items(value: object) -> list | None:
    """A list's items (a numpy array's too, as Parquet gives lists), or None for anything else."""
    if type(value) is list:
        return value
    if isinstance(value, (str, bytes, Mapping)):
        return None
    if isinstance(value, Sequence):
        return list(value)
    return value.tolist() if hasattr(value, "tolist") else None


def message_text(content: object) -> str:
    """A message's text: its ``content`` string, or the texts of its OpenAI-style
    ``{"type": "text", "text": ...}`` parts joined (image and other parts are ignored).

    Raises :class:`BadRow` for a content that is neither.
    """
    if isinstance(content, str):
        return content
    parts = _items(content)
    if parts is None:
        raise BadRow(f"assistant content is {type(content).__name__}, not a string or parts")
    texts = []
    for part in parts:
        if not is_mapping(part):
            raise BadRow(f"assistant content holds a part that is {type(part).__name__}")
        if part.get("type") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise BadRow(f"assistant text part is {type(text).__name__}, not a string")
            texts.append(text)
    return "".join(texts)


def response_from_message_log(message_log: object) -> str:
    """The concatenated text (:func:`message_text`) of the ``assistant`` messages of a
    conversation.

    Accepts a list of ``{role, content}`` mappings, or the same as JSON text. Raises
    :class:`BadRow` for anything else, for a conversation with no assistant message, or for
    an assistant content that is neither a string nor a list of parts.
    """
    if isinstance(message_log, str):
        try:
            message_log = json.loads(message_log)
        except (ValueError, RecursionError):  # invalid, or nested too deep to parse
            raise BadRow("message_log is not valid JSON") from None
    messages = _items(message_log)
    if messages is None:
        raise BadRow(f"message_log is {type(message_log).__name__}, not a list")
    texts = []
    for message in messages:
        if not is_mapping(message):
            raise BadRow("message_log holds a message that is not a mapping")
        if message.get("role") == "assistant":
            texts.append(message_text(message.get("content")))
    if not texts:
        raise BadRow("message_log has no assistant message")
    return "".join(texts)


def ground_truth_text(value: object) -> object:
    """A numeric ground truth as its text (``42`` -> ``"42"``, ``1e-05`` -> ``"0.00001"``);
    anything else unchanged, for batch scoring to accept (a string) or report (missing, or
    another type)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return value
    if isinstance(value, Integral):
        return str(int(value))
    return float_text(float(value)) if math.isfinite(value) else None


def float_text(value: float) -> str:
    """A finite float as the shortest decimal that reads back as it, written out in full
    (``1e-05`` -> ``"0.00001"``, ``1e+23`` -> ``"100000000000000000000000.0"``): math-verify
    does not read Python's exponent form as the number."""
    text = repr(value)
    if "e" not in text:
        return text
    text = format(Decimal(text), "f")
    return text if "." in text else f"{text}.0"
