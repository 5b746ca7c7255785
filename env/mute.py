"""Muting the chatter reward functions print, which would otherwise flood a training log."""

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
