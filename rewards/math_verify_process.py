"""The math-verify scoring process: a long-lived child that runs math-verify in its main
thread, where signal-based time limits work, one request at a time.

Started by :mod:`rewards.math_verifier` as ``python -m rewards.math_verify_process READ_FD
WRITE_FD``. Each request is ``(golds, predictions, time_limit)``; each reply is
``("score", float)``, ``("timeout", None)`` or ``("error", text)``. A computation stuck in C
code ignores the alarm; the parent then kills this process and starts another.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from functools import lru_cache
from multiprocessing.connection import Connection

from rewards import two_stage_parsing
from rewards.errors import describe

Reply = tuple[str, "float | str | None"]


class SampleTimeout(BaseException):
    """Raised by the alarm. A BaseException, so math-verify's ``except Exception`` lets it by."""


def _raise_timeout(signum: int, frame: object) -> None:
    raise SampleTimeout


def _exit_when_orphaned(parent_pid: int) -> None:
    """Leave as soon as the parent is gone, even if it died without closing our pipes."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(0)


def _gold_targets():
    from math_verify import LatexExtractionConfig

    return (LatexExtractionConfig(),)


def _prediction_targets():
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return (ExprExtractionConfig(), LatexExtractionConfig())


@lru_cache(maxsize=4096)
def _parse_gold(gold: str) -> tuple:
    """Parsed gold answers are reused: a GRPO group shares one ground truth."""
    from math_verify import parse

    return tuple(parse(gold, _gold_targets(), parsing_timeout=None))


@lru_cache(maxsize=4096)
def _parse_prediction(prediction: str) -> tuple:
    """Parsed predictions are reused too: short answers ("A", "12") recur across prompts."""
    from math_verify import parse

    return tuple(parse(prediction, _prediction_targets(), parsing_timeout=None))


def _verify(golds: tuple[str, ...], predictions: tuple[str, ...]) -> float:
    """math-verify's metric: gold LaTeX, predictions as expression then LaTeX, max over them."""
    from math_verify import verify

    parsed_golds = [list(_parse_gold(gold)) for gold in golds]
    if any(not parsed for parsed in parsed_golds):
        return 0.0
    scores = []
    for prediction in predictions:
        parsed = list(_parse_prediction(prediction))
        matched = any(verify(gold, parsed, timeout_seconds=None) for gold in parsed_golds)
        scores.append(1.0 if matched else 0.0)
    return max(scores, default=0.0)


def answer(golds: tuple[str, ...], predictions: tuple[str, ...], time_limit: float) -> Reply:
    """Score one request within ``time_limit`` seconds of wall time."""
    try:
        signal.setitimer(signal.ITIMER_REAL, time_limit)
        try:
            return ("score", _verify(golds, predictions))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except SampleTimeout:
        return ("timeout", None)
    except Exception as error:
        return ("error", describe(error))


def main(read_fd: int, write_fd: int) -> None:
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    requests = Connection(read_fd, writable=False)
    replies = Connection(write_fd, readable=False)
    import math_verify  # noqa: F401 - imported before "ready" so the first sample pays nothing

    two_stage_parsing.install()
    signal.signal(signal.SIGALRM, _raise_timeout)
    replies.send(("ready", os.getpid()))
    while True:
        try:
            golds, predictions, time_limit = requests.recv()
        except EOFError:
            return
        replies.send(answer(golds, predictions, time_limit))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
