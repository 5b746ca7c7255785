"""Per-row notes that reward functions leave for batch scoring: the extracted answer and
anything that went wrong (a timeout), without changing the rewards' return values.

Outside :func:`collecting_notes` every call here is a no-op, so the rewards stay plain
functions when called directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RowNotes:
    """What the reward functions said about one row while scoring it."""

    answer: str | None = None
    problem: str | None = None


_current: ContextVar[RowNotes | None] = ContextVar("rollscore_row_notes", default=None)


def note_answer(answer: str | None) -> None:
    """Record the answer a reward extracted; the first reward to extract one wins."""
    notes = _current.get()
    if notes is not None and notes.answer is None and answer is not None:
        notes.answer = answer


def note_problem(problem: str) -> None:
    """Record why a row's score is not trustworthy (for example a timeout); the first wins."""
    notes = _current.get()
    if notes is not None and notes.problem is None:
        notes.problem = problem


@contextmanager
def collecting_notes() -> Iterator[RowNotes]:
    """Collect the notes of the rewards called inside the block."""
    notes = RowNotes()
    token = _current.set(notes)
    try:
        yield notes
    finally:
        _current.reset(token)
