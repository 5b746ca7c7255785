"""NeMo-RL's ``_mute_output``: the chatter of reward functions called in this process kept out
of a training log. rollscore's own scoring needs none: math-verify and users' functions run in
scoring processes whose output goes to the null device."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout


@contextmanager
def _mute_output() -> Iterator[None]:
    """Send ``sys.stdout`` and ``sys.stderr`` to the null device inside the block."""
    with (
        open(os.devnull, "w", encoding="utf-8") as devnull,
        redirect_stdout(devnull),
        redirect_stderr(devnull),
    ):
        yield
