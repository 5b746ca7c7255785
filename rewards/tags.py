"""Answer extraction shared by the rewards: tag contents and the last ``\\boxed{...}``.

Every function here is linear in the response's length. The reference's tag pattern
``<tag>([\\s\\S]*)</tag>`` is quadratic on a response with many opening tags and no closing one
(``"<answer>" * 25000`` takes 39 s); ``find`` and ``rfind`` give the same greedy match.
"""

from __future__ import annotations

import re

BOXED_TOKEN = "\\boxed{"
_BRACE = re.compile(r"[{}]")


def _tag_span(response: str, tag: str) -> tuple[int, int] | None:
    """Where the content between the first ``<tag>`` and the last ``</tag>`` after it starts
    and ends, as the greedy pattern ``<tag>([\\s\\S]*)</tag>`` matches it; None if it does not."""
    opening, closing = f"<{tag}>", f"</{tag}>"
    start = response.find(opening)
    if start == -1:
        return None
    start += len(opening)
    stop = response.rfind(closing)
    return (start, stop) if stop >= start else None


def tag_content(response: str, tag: str) -> str | None:
    """The text between the first ``<tag>`` and the last ``</tag>`` (greedy), or None."""
    span = _tag_span(response, tag)
    return None if span is None else response[span[0] : span[1]]


def has_tag_pair(response: str, tag: str) -> bool:
    """Whether ``<tag>...</tag>`` occurs anywhere in the response."""
    return _tag_span(response, tag) is not None


def has_boxed_after_think(response: str) -> bool:
    """Whether ``</think>`` is followed, anywhere later, by ``\\boxed{`` and then a ``}``: what
    the pattern ``</think>.*\\\\boxed\\{.*\\}`` (DOTALL) finds, in one pass."""
    think = response.find("</think>")
    if think == -1:
        return False
    box = response.find(BOXED_TOKEN, think + len("</think>"))
    return box != -1 and response.find("}", box + len(BOXED_TOKEN)) != -1


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
