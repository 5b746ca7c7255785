"""The scoring processes of one Dask worker (or any other process): math-verify and users'
reward functions run there, right in any thread, bounded in time and memory per sample, and a
crash costs one sample.

math-verify's own time limits use ``signal.alarm``, which only works in a process's main
thread; from a worker thread (every Dask task runs in one) it raises. So math-verify runs in
scoring processes (:mod:`.scoring_process`), one per concurrently scoring thread, whose main
threads arm their own alarm per sample; users' ``"package.module:function"`` rewards run there
too, so one that hangs, exits, crashes or allocates without limit costs its own row, never the
worker. They are started with ``subprocess``, which works inside Dask's daemonic worker
processes, where ``multiprocessing`` cannot.

A sample that outlives its limit by :data:`KILL_GRACE` seconds (C code ignores signals) has its
process killed. A sample whose process timed out or died is tried once more on a fresh one
before the verdict stands. math-verify's results are memoised per (golds, predictions, limits)
in a bounded LRU, since GRPO groups repeat the same final answers; a timeout only for
:data:`TIMEOUT_MEMORY` seconds, so a moment of load does not stick. A batch's questions to
math-verify can be asked ahead (:meth:`ScoringProcesses.verify_ahead`): a few at a time in
flight to one process, which then goes from one to the next without waiting for the caller.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from multiprocessing.connection import Connection
from typing import NamedTuple

from rollscore.rewards.errors import VerifierUnavailable
from rollscore.rewards.result import ErrorKind, Problem, RewardResult
from rollscore.rewards.user_functions import user_module_path
from rollscore.rewards.verifier.bounded_cache import BoundedCache
from rollscore.rewards.verifier.requests import CallRequest, Reply, SampleLimits, VerifyRequest

KILL_GRACE = 1.0
"""Seconds past the time limit after which a process that ignored its alarm is killed."""
STARTUP_LIMIT = 120.0
"""Seconds a new process may take to import math-verify and report ready."""
STARTUP_GRACE = 5.0
"""Seconds a process that closed its pipes before it was ready may take to exit."""
TIMEOUT_MEMORY = 60.0
"""Seconds a timeout verdict is remembered: repeats within a batch are not tried again."""
MEMO_ENTRY_BYTES = 600
"""What one remembered verdict costs beside its texts (request, reply and LRU entry, measured):
the memo's budget is charged this plus the texts' length, so it bounds real memory."""
MEMO_ENTRIES = 250_000
MEMO_BYTES = 160_000_000
"""The memo's bounds. Each of 2 workers scoring 10 million rows meets about 200,000 distinct
questions that recur across the whole file; a memo that holds fewer forgets ones that come
back, and asks math-verify again (one of 48 MB asks 21% more questions there)."""
FAILURE_KINDS = {
    "timeout": ErrorKind.TIMEOUT,
    "exception": ErrorKind.REWARD_EXCEPTION,
    "bad_reward": ErrorKind.BAD_REWARD,
    "out_of_memory": ErrorKind.REWARD_CRASHED,
    "crashed": ErrorKind.REWARD_CRASHED,
}
"""The error kind of each failed reply."""
RETRIED = ("timeout", "crashed", "out_of_memory")
"""Replies that are tried once more on a fresh process before they stand."""
REMEMBERED = ("ok", "exception", "timeout")
"""Replies the memo keeps: verdicts, and (briefly) timeouts."""
AHEAD_REQUESTS = 8
AHEAD_BYTES = 32_768
"""Requests asked ahead may be in flight at once, up to this many and this many bytes (less
than a pipe holds, so that sending never waits for a process that waits to send a reply)."""

DEFAULT_LIMITS = SampleLimits()
SCORING_PROCESS_MODULE = "rollscore.rewards.verifier.scoring_process"


class Answer(NamedTuple):
    """A scoring process's reply to one request, and the wall seconds it took: from the reply
    before it (or from the start, for the first), since a request asked ahead waits its turn."""

    reply: Reply
    seconds: float


class Verdict(NamedTuple):
    """math-verify's score of one question, the problem that kept it from a verdict (then the
    score is 0.0), and the seconds math-verify took on it, or None when the memo answered."""

    score: float
    problem: Problem | None
    seconds: float | None


class AskedAhead(NamedTuple):
    """What :meth:`ScoringProcesses.verify_ahead` did: how many questions it was given, repeats
    included, and the seconds math-verify took on each one it had to ask."""

    questions: int
    seconds: list[float]


def _process_environment() -> dict[str, str]:
    """This process's environment, with Python told not to put the current folder first on the
    scoring process's module search path (a user's ``rollscore.py`` there never shadows the
    package; a user's own module is imported with :func:`user_module_path` on request)."""
    return {**os.environ, "PYTHONSAFEPATH": "1"}


class ScoringProcess:
    """One scoring process and the two pipes that talk to it."""

    def __init__(self) -> None:
        reply_read, reply_write = os.pipe()
        request_read, request_write = os.pipe()
        # what the process says before it is ready; read only if it fails to start
        self._startup_errors = tempfile.TemporaryFile()  # noqa: SIM115 - kept until ready
        self.popen = subprocess.Popen(
            [sys.executable, "-m", SCORING_PROCESS_MODULE, str(request_read), str(reply_write)],
            pass_fds=(request_read, reply_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._startup_errors,
            env=_process_environment(),
            start_new_session=True,  # its own process group: see :meth:`kill`
        )
        os.close(request_read)
        os.close(reply_write)
        self._requests = Connection(request_write, readable=False)
        self._replies = Connection(reply_read, writable=False)
        self._ready = False

    def wait_ready(self) -> None:
        """Wait until the process has imported math-verify; raise :class:`VerifierUnavailable`,
        with the process's last words, if it dies or does not get there in time."""
        if self._ready:
            return
        try:
            if not self._replies.poll(STARTUP_LIMIT):
                self.kill()
                raise VerifierUnavailable(
                    f"the scoring process did not start within {STARTUP_LIMIT:g} s"
                )
            self._replies.recv()
            self._ready = True
            self._startup_errors.close()
        except (EOFError, OSError):
            raise VerifierUnavailable(self._startup_failure()) from None

    def _startup_failure(self) -> str:
        """What a process that died before it was ready said last, with its exit code."""
        try:
            code = self.popen.wait(timeout=STARTUP_GRACE)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.popen.returncode
        self.close()
        self._startup_errors.seek(0)
        lines = self._startup_errors.read().decode(errors="replace").strip().splitlines()
        self._startup_errors.close()
        said = f": {lines[-1]}" if lines else ""
        return f"the scoring process could not start (exit code {code}){said}"

    def ask_in_turn(self, requests: Sequence[VerifyRequest | CallRequest]) -> list[Answer]:
        """The answers to ``requests``, sent a few ahead (:data:`AHEAD_REQUESTS`) so that the
        process goes from one to the next. Each waits at most its time limit plus
        :data:`KILL_GRACE` once the one before it is answered: a process that does not answer in
        time is killed and says ``timeout``, one that dies says ``crashed``. Stops at the first
        reply in :data:`RETRIED` (killing the process if it was already sent more), so there may
        be fewer answers than requests: the rest are the caller's to ask again."""
        self.wait_ready()
        answers: list[Answer] = []
        sent: list[int] = []  # the size of each request sent
        turn = time.perf_counter()  # when the request answered next had its turn
        try:
            while len(answers) < len(requests):
                self._send_ahead(requests, sent, len(answers))
                head = requests[len(answers)]
                if not self._replies.poll(head.limits.seconds + KILL_GRACE):
                    self.kill()
                    stopped = f"took over {head.limits.seconds:g} s and was stopped"
                    return [*answers, Answer(("timeout", stopped), time.perf_counter() - turn)]
                reply = self._replies.recv()
                answered = time.perf_counter()
                answers.append(Answer(reply, answered - turn))
                turn = answered
                if reply[0] in RETRIED:
                    break
        except (EOFError, OSError):
            code = self.popen.wait()
            self.signal_group()  # what the process started outlives it otherwise
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            crashed = ("crashed", f"crashed: its scoring process {how}")
            return [*answers, Answer(crashed, time.perf_counter() - turn)]
        if len(sent) > len(answers):
            self.kill()  # still busy with requests whose replies nobody will read
        return answers

    def _send_ahead(
        self, requests: Sequence[VerifyRequest | CallRequest], sent: list[int], answered: int
    ) -> None:
        """Send the next requests while fewer than :data:`AHEAD_REQUESTS` and
        :data:`AHEAD_BYTES` are unanswered (a larger one only when none is), noting each one's
        size in ``sent``."""
        in_flight = sum(sent[answered:])
        while len(sent) < len(requests) and len(sent) - answered < AHEAD_REQUESTS:
            message = pickle.dumps(requests[len(sent)], protocol=pickle.HIGHEST_PROTOCOL)
            if len(sent) > answered and in_flight + len(message) > AHEAD_BYTES:
                return
            self._requests.send_bytes(message)
            sent.append(len(message))
            in_flight += len(message)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """Kill the process with every process scored code started there (they share its
        process group, unless they left it on purpose), and reap it."""
        self.signal_group()
        self.popen.wait()
        self.close()

    def signal_group(self) -> None:
        """Send SIGKILL to the process's group; it is the group's leader, so the group's id is
        its pid, and no new process takes that id while a member of the group lives."""
        with contextlib.suppress(ProcessLookupError):  # all of them are gone already
            os.killpg(self.popen.pid, signal.SIGKILL)

    def close(self) -> None:
        """Close the pipes: an idle process reads end-of-file and exits."""
        self._requests.close()
        self._replies.close()


class ScoringProcesses:
    """The scoring processes shared by every thread of this process, plus math-verify's memo."""

    def __init__(self, memo_entries: int = MEMO_ENTRIES, memo_bytes: int = MEMO_BYTES) -> None:
        self._idle: list[ScoringProcess] = []
        self._running: set[ScoringProcess] = set()
        self._lock = threading.Lock()
        self._memo: BoundedCache[tuple[Reply, float]] = BoundedCache(
            memo_entries, memo_bytes, size_of=_memo_bytes
        )

    def verify(
        self,
        golds: Sequence[str],
        predictions: Sequence[str],
        limits: SampleLimits = DEFAULT_LIMITS,
    ) -> tuple[float, Problem | None]:
        """math-verify's score of ``predictions`` against ``golds`` (1.0 or 0.0), and the
        problem that kept it from a verdict (then the score is 0.0)."""
        return self.verdict(golds, predictions, limits)[:2]

    def verdict(
        self,
        golds: Sequence[str],
        predictions: Sequence[str],
        limits: SampleLimits = DEFAULT_LIMITS,
    ) -> Verdict:
        """:meth:`verify`'s score and problem, with the seconds math-verify took when it had to
        be asked (None when the memo answered)."""
        key = _memo_key(golds, predictions, limits)
        reply, seconds = self._recalled(key), None
        if reply is None:
            request = VerifyRequest(tuple(golds), tuple(predictions), limits)
            [(reply, seconds)] = self._ask_all([request])
            self._remember(key, reply)
        status, value = reply
        if status == "ok":
            return Verdict(value, None, seconds)
        return Verdict(0.0, _problem(status, f"math-verify {value}"), seconds)

    def verify_ahead(
        self,
        questions: Iterable[tuple[Sequence[str], Sequence[str]]],
        limits: SampleLimits = DEFAULT_LIMITS,
    ) -> AskedAhead:
        """Ask math-verify about each distinct (golds, predictions) not remembered yet, several
        in flight to one process, and remember the verdicts, so that :meth:`verify` then answers
        those from the memo. A reply is what :meth:`verify` would have got: a timeout or a
        death is asked once more of a fresh process."""
        keys = [_memo_key(golds, predictions, limits) for golds, predictions in questions]
        pending = [key for key in dict.fromkeys(keys) if self._recalled(key) is None]
        requests = [VerifyRequest(golds, predictions, limits) for golds, predictions, *_ in pending]
        seconds = []
        for key, (reply, took) in zip(pending, self._ask_all(requests)):
            self._remember(key, reply)
            seconds.append(took)
        return AskedAhead(len(keys), seconds)

    def _recalled(self, key: MemoKey) -> Reply | None:
        """The remembered reply to the question of ``key``, unless there is none or it has
        expired."""
        remembered = self._memo.get(key)
        if remembered is None or remembered[1] <= time.monotonic():
            return None
        return remembered[0]

    def _remember(self, key: MemoKey, reply: Reply) -> None:
        """Keep a verdict for good, a timeout for :data:`TIMEOUT_MEMORY` seconds."""
        if reply[0] in REMEMBERED:
            lasts = TIMEOUT_MEMORY if reply[0] == "timeout" else float("inf")
            self._memo.put(key, (reply, time.monotonic() + lasts))

    def call(
        self,
        name: str,
        kwargs: tuple[tuple[str, object], ...],
        ground_truth: str,
        response: str,
        limits: SampleLimits = DEFAULT_LIMITS,
    ) -> RewardResult:
        """A user's reward function ``name`` called on one sample in a scoring process."""
        request = CallRequest(name, kwargs, ground_truth, response, limits, user_module_path())
        [((status, value), _)] = self._ask_all([request])
        if status == "ok":
            reward, correct = value
            return RewardResult(reward, correct)
        return RewardResult(0.0, False, problem=_problem(status, f"{name} {value}"))

    def _ask_all(self, requests: Sequence[VerifyRequest | CallRequest]) -> list[Answer]:
        """The answer to each request, asked in turn of a process; one that timed out or whose
        process died is asked once more of a fresh process (its seconds are then both tries'),
        and the rest of a fresh one too."""
        answers: list[Answer] = []
        while len(answers) < len(requests):
            answered = self._ask_once(requests[len(answers) :])
            first_try = answered[-1]
            if first_try.reply[0] in RETRIED:
                [again] = self._ask_once([requests[len(answers) + len(answered) - 1]])
                answered[-1] = Answer(again.reply, first_try.seconds + again.seconds)
            answers += answered
        return answers

    def _ask_once(self, requests: Sequence[VerifyRequest | CallRequest]) -> list[Answer]:
        """The answers of one process to ``requests`` (see :meth:`ScoringProcess.ask_in_turn`)."""
        process = self._checkout()
        try:
            answers = process.ask_in_turn(requests)
        finally:
            with self._lock:
                self._running.discard(process)
        if answers[-1].reply[0] in RETRIED:
            process.close()  # a timed-out process may hold what it was computing: never reuse it
            self._checkin(ScoringProcess())  # start the replacement now, so it is warm when needed
        else:
            self._checkin(process)
        return answers

    def _checkout(self) -> ScoringProcess:
        with self._lock:
            while self._idle:
                process = self._idle.pop()
                if process.alive:
                    self._running.add(process)
                    return process
                process.signal_group()
                process.close()
            process = ScoringProcess()
            self._running.add(process)
            return process

    def _checkin(self, process: ScoringProcess) -> None:
        with self._lock:
            self._idle.append(process)

    def prestart(self, count: int) -> None:
        """Start scoring processes until this process has ``count``, without waiting for them: they
        import math-verify while the caller does other work."""
        with self._lock:
            missing = count - len(self._idle) - len(self._running)
            self._idle.extend(ScoringProcess() for _ in range(missing))

    def shutdown(self) -> None:
        """Stop every process: the idle ones at once, the busy ones killed (a thread still
        waiting for one sees it die, and asks a fresh process once more)."""
        with self._lock:
            idle, running, self._idle = self._idle, list(self._running), []
        for process in running:
            process.signal_group()
        for process in idle:
            process.close()
            try:
                process.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        for process in running:
            process.popen.wait()


def _problem(status: str, message: str) -> Problem:
    return Problem(FAILURE_KINDS[status], message)


MemoKey = tuple[tuple[str, ...], tuple[str, ...], float, int]


def _memo_key(golds: Sequence[str], predictions: Sequence[str], limits: SampleLimits) -> MemoKey:
    """The memo's key of a question: a plain tuple, which hashes and compares in C (a frozen
    dataclass does both in Python, so a memo lookup would cost about 3 µs instead of 1)."""
    return tuple(golds), tuple(predictions), limits.seconds, limits.memory_mb


def _memo_bytes(key: MemoKey) -> int:
    """About the memory a remembered verdict holds."""
    golds, predictions, _, _ = key
    return MEMO_ENTRY_BYTES + sum(map(len, golds)) + sum(map(len, predictions))


scoring_processes = ScoringProcesses()
"""The process-wide scoring processes the math rewards and users' functions use."""
atexit.register(scoring_processes.shutdown)
