"""math-verify that is correct in any thread and bounded in time per sample.

math-verify's own time limits use ``signal.alarm``, which only works in a process's main
thread; from a worker thread (every Dask task runs in one) it raises. So the verification
runs in child processes (:mod:`rewards.math_verify_process`), one per concurrently scoring
thread, whose main threads arm their own alarm per sample. When a sample outlives the alarm
by :data:`KILL_GRACE` seconds (C code ignores signals), the child is killed and replaced;
that sample scores 0.0 and is noted as a timeout. Children are started with ``subprocess``,
which works inside Dask's daemonic worker processes, where ``multiprocessing`` cannot.

Results are memoised per (golds, predictions) in a bounded LRU: GRPO groups repeat the same
final answers many times.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from multiprocessing.connection import Connection
from pathlib import Path

from rewards.bounded_cache import BoundedCache
from rewards.errors import VerifierUnavailable
from rewards.notes import note_problem

DEFAULT_TIME_LIMIT = 5.0
"""Seconds one sample may spend in math-verify before it scores 0.0 as a timeout."""
KILL_GRACE = 1.0
"""Seconds past the time limit after which a child that ignored its alarm is killed."""
STARTUP_LIMIT = 120.0
"""Seconds a new child may take to import math-verify and report ready."""

_time_limit: ContextVar[float] = ContextVar("rollscore_math_time_limit", default=DEFAULT_TIME_LIMIT)


@contextmanager
def sample_time_limit(seconds: float) -> Iterator[None]:
    """Use ``seconds`` as the per-sample math-verify time limit inside the block."""
    token = _time_limit.set(seconds)
    try:
        yield
    finally:
        _time_limit.reset(token)


def _child_environment() -> dict[str, str]:
    """The child imports ``rewards`` from wherever this process did."""
    project_root = str(Path(__file__).resolve().parent.parent)
    environment = dict(os.environ)
    paths = [project_root, *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


class _Child:
    """One math-verify child process and the two pipes that talk to it."""

    def __init__(self) -> None:
        reply_read, reply_write = os.pipe()
        request_read, request_write = os.pipe()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rewards.math_verify_process",
                str(request_read),
                str(reply_write),
            ],
            pass_fds=(request_read, reply_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_child_environment(),
        )
        os.close(request_read)
        os.close(reply_write)
        self._requests = Connection(request_write, readable=False)
        self._replies = Connection(reply_read, writable=False)
        self._ready = False

    def wait_ready(self) -> None:
        if self._ready:
            return
        try:
            if self._replies.poll(STARTUP_LIMIT):
                self._replies.recv()
                self._ready = True
                return
        except (EOFError, OSError):
            pass
        self.kill()
        raise VerifierUnavailable(
            f"the math-verify process did not start (exit code {self.process.poll()}); "
            f"check that math-verify imports in {sys.executable}"
        )

    def ask(self, request: tuple, hard_limit: float) -> tuple[str, float | str | None]:
        """Send one request and wait at most ``hard_limit`` seconds for its reply."""
        self.wait_ready()
        try:
            self._requests.send(request)
            if self._replies.poll(hard_limit):
                return self._replies.recv()
        except (EOFError, OSError):
            return ("error", f"math-verify process exited with code {self.process.wait()}")
        self.kill()
        return ("timeout", None)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.close()

    def close(self) -> None:
        """Close the pipes: an idle child reads end-of-file and exits."""
        self._requests.close()
        self._replies.close()


class MathVerifier:
    """A pool of math-verify children shared by every thread of this process, plus the memo."""

    def __init__(self, memo_entries: int = 200_000, memo_chars: int = 64_000_000) -> None:
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._memo: BoundedCache[tuple[str, float | str | None]] = BoundedCache(
            memo_entries, memo_chars, size_of=_key_chars
        )

    def verify(self, golds: Sequence[str], predictions: Sequence[str]) -> float:
        """The math-verify score of ``predictions`` against ``golds`` (1.0 or 0.0).

        A timeout or a crash of the child scores 0.0 and is noted for batch scoring.
        """
        time_limit = _time_limit.get()
        request = (tuple(golds), tuple(predictions), time_limit)
        reply = self._memo.get(request)
        if reply is None:
            reply = self._ask(request, time_limit + KILL_GRACE)
            if reply[0] != "error":  # a crashed child says nothing lasting about the sample
                self._memo.put(request, reply)
        kind, value = reply
        if kind == "score":
            return value
        if kind == "timeout":
            note_problem(f"timeout: math-verify took over {time_limit:g} s")
        else:
            note_problem(f"exception: {value}")
        return 0.0

    def _ask(self, request: tuple, hard_limit: float) -> tuple[str, float | str | None]:
        """Ask a child; if it died without timing out (killed from outside, say), ask a fresh
        one once more."""
        reply, died = self._ask_once(request, hard_limit)
        if died and reply[0] == "error":
            reply, _ = self._ask_once(request, hard_limit)
        return reply

    def _ask_once(self, request: tuple, hard_limit: float) -> tuple[tuple, bool]:
        child = self._checkout()
        reply = child.ask(request, hard_limit)
        if child.alive:
            self._checkin(child)
            return reply, False
        child.close()
        self._checkin(_Child())  # start the replacement now, so it is warm when needed
        return reply, True

    def _checkout(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive:
                    return child
                child.close()
        return _Child()

    def _checkin(self, child: _Child) -> None:
        with self._lock:
            self._idle.append(child)

    def idle_child_pids(self) -> list[int]:
        """Process ids of the children waiting for work, the next one to be used last."""
        with self._lock:
            return [child.process.pid for child in self._idle]

    def warm_up(self) -> None:
        """Start one child and wait until it is ready, so the first sample pays nothing."""
        child = self._checkout()
        child.wait_ready()
        self._checkin(child)

    def shutdown(self) -> None:
        """Stop the idle children (busy ones stop when their thread hands them back)."""
        with self._lock:
            children, self._idle = self._idle, []
        for child in children:
            child.close()
            try:
                child.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()

    def clear_memo(self) -> None:
        self._memo.clear()


def _key_chars(request: tuple) -> int:
    golds, predictions, _ = request
    return sum(map(len, golds)) + sum(map(len, predictions))


verifier = MathVerifier()
"""The process-wide verifier the math rewards use."""
atexit.register(verifier.shutdown)
