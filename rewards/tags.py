"""Answer extraction shared by the rewards: tag contents and the last ``\\boxed{...}``."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=256)
def _tag_pattern(tag: str) -> re.Pattern[str]:
    escaped = re.escape(tag)
    return re.compile(rf"<{escaped}>([\s\S]*)</{escaped}>")


def tag_content(response: str, tag: str) -> str | None:
    """The text between the first ``<tag>`` and the last ``</tag>`` (greedy), or None."""
    match = _tag_pattern(tag).search(response)
    return match.group(1) if match else None


def has_tag_pair(response: str, tag: str) -> bool:
    """Whether ``<tag>...</tag>`` occurs anywhere in the response."""
    return _tag_pattern(tag).search(response) is not None


BOXED_TOKEN = "\\boxed{"
_BRACE = re.compile(r"[{}]")


def last_boxed_content(response: str) -> str | None:
    """The stripped content of the last ``\\boxed{``, found by a brace-depth scan.

    None when there is no ``\\boxed{`` or its braces never close.
    """
    start = response.rfind(BOXED_TOKEN)
    if start == -1:
        return None
    start += len(BOXED_TOKEN)
    depth = 1
    for brace in _BRACE.finditer(response, start):
        depth += 1 if brace.group() == "{" else -1
        if depth == 0:
            return response[start : brace.start()].strip()
    return None
