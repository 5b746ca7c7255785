"""The ``rollscore`` command as the tests run it: in a new process, as a user would."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

COMMAND = [sys.executable, "-m", "rollscore.pipeline.cli"]


def rollscore(*arguments: str, **options) -> subprocess.Popen:
    """The command line, started in a new process."""
    return subprocess.Popen(
        [*COMMAND, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options
    )


def finished(*arguments: str, **options) -> subprocess.CompletedProcess:
    """The command line, run to its end in a new process."""
    return subprocess.run(
        [*COMMAND, *arguments], capture_output=True, text=True, timeout=600, **options
    )


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)
