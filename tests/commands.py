"""The ``rollscore`` command as the tests run it: in a new process, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psutil

COMMAND = [sys.executable, "-m", "rollscore.pipeline.cli"]


def rollscore(*arguments: str, **options) -> subprocess.Popen:
    """The command line, started in a new process leading a process group of its own, as a
    shell starts a job."""
    return subprocess.Popen(
        [*COMMAND, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **options,
    )


def ctrl_c(process: subprocess.Popen) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to every process of the job's group, the ones
    the command started included."""
    os.killpg(process.pid, signal.SIGINT)


def finished(*arguments: str, **options) -> subprocess.CompletedProcess:
    """The command line, run to its end in a new process."""
    return subprocess.run(
        [*COMMAND, *arguments], capture_output=True, text=True, timeout=600, **options
    )


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (or is stopped): not gone, nor a zombie waiting for its
    parent."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)
