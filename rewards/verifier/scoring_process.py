"""A scoring process: a long-lived process that runs math-verify and users' reward functions in
its main thread, where signal-based time limits work, one request at a time, under a limit on
its memory.

Started by :mod:`.pool` as ``python -m rollscore.rewards.verifier.scoring_process READ_FD
WRITE_FD``; the requests and replies are those of :mod:`.requests`. After an out-of-memory
reply the process exits, so a fresh one takes its place. Code stuck where the alarm cannot
reach it (C code that ignores signals) is killed by the parent. What scored code prints goes to
the null device once the process is ready. Processes scored code starts end with this one,
however it ends.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time
from functools import lru_cache
from multiprocessing.connection import Connection

from rollscore.rewards.errors import describe
from rollscore.rewards.result import BadReward, checked_pair
from rollscore.rewards.user_functions import import_user_function
from rollscore.rewards.verifier.requests import CallRequest, Reply, VerifyRequest
from rollscore.rewards.verifier.stack import ACCELERATIONS

OOM_SCORE_ADJ = 1000
"""The kernel's out-of-memory killer picks this process before any other, never its worker."""


class SampleTimeout(BaseException):
    """Raised by the alarm. A BaseException, so ``except Exception`` in scored code lets it by."""


def _raise_timeout(signum: int, frame: object) -> None:
    raise SampleTimeout


def _leave() -> None:
    """End this process at once, and with it every process scored code started here: the pool
    makes it the leader of its own process group, which they share."""
    if os.getpgrp() == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os._exit(0)


def _exit_when_orphaned(parent_pid: int) -> None:
    """Leave as soon as the parent is gone, even if it died without closing our pipes."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    _leave()


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


def _call(request: CallRequest) -> tuple[float, bool | None]:
    """A user's reward function called on one sample, its return value checked."""
    if list(request.sys_path) != sys.path:
        sys.path[:] = request.sys_path  # for good: the function may import more when called
    function = _user_function(request.name, request.sys_path)
    return checked_pair(function(request.ground_truth, request.response, **dict(request.kwargs)))


@lru_cache(maxsize=256)
def _user_function(name: str, search_path: tuple[str, ...]):
    """A user's function, imported once for each module search path it is asked with."""
    return import_user_function(name, search_path)


def _limit_memory(megabytes: int) -> None:
    """Cap this process's address space: an allocation past it raises ``MemoryError``."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = megabytes * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _lift_memory_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def answer(request: VerifyRequest | CallRequest) -> Reply:
    """Carry out one request within its time and memory limits."""
    limits = request.limits
    try:
        _limit_memory(limits.memory_mb)
        signal.setitimer(signal.ITIMER_REAL, limits.seconds)
        try:
            if isinstance(request, VerifyRequest):
                value: object = _verify(request.golds, request.predictions)
            else:
                value = _call(request)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            _lift_memory_limit()
    except SampleTimeout:
        return ("timeout", f"took over {limits.seconds:g} s")
    except MemoryError:
        return ("out_of_memory", f"ran out of memory (over {limits.memory_mb:,} MB)")
    except BadReward as error:
        return ("bad_reward", str(error))
    except Exception as error:
        return ("exception", describe(error, "raised "))
    return ("ok", value)


def _mute_output() -> None:
    """Send this process's stdout and stderr to the null device: what scored code prints is
    nobody's business, and the parent stops reading once the process is ready."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def main(read_fd: int, write_fd: int) -> None:
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write(str(OOM_SCORE_ADJ))
    except OSError:
        pass  # not Linux, or not allowed: the memory limit still holds
    requests = Connection(read_fd, writable=False)
    replies = Connection(write_fd, readable=False)
    import math_verify  # noqa: F401 - imported before "ready" so the first sample pays nothing

    for acceleration in ACCELERATIONS.values():
        acceleration.install()
    signal.signal(signal.SIGALRM, _raise_timeout)
    replies.send(("ready", os.getpid()))
    _mute_output()
    while True:
        try:
            request = requests.recv()
        except EOFError:  # the parent is done: nothing here is left to flush or clean up
            _leave()
        reply = answer(request)
        replies.send(reply)
        if reply[0] == "out_of_memory":
            _leave()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
