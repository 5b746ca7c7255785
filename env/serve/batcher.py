"""Gathering concurrent requests into one frame, scored as one Dask dataframe.

Each request hands over its rows and waits. Rows arriving together are gathered until
``max_rows`` are waiting or ``max_wait`` seconds have passed since the first of them, and the
gathered frame is scored by :meth:`~rollscore.env.session.ScoringSession.score` in a worker
thread, so the event loop never blocks and several frames may be in flight. Each
request gets back its own rows' scores, in its own order.

The rows accepted and not yet answered are bounded: past ``max_queued_rows`` a request is
refused at once (:class:`Overloaded`), never queued without end, and one holding more rows
than that is refused whatever waits (:class:`TooManyRows`). A request that has waited
``deadline`` seconds is answered with :class:`DeadlineExceeded`; a slow sample costs only its
own row long before that (the config's ``sample_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from rollscore.env.serve.errors import DeadlineExceeded, Overloaded, ShuttingDown, TooManyRows
from rollscore.env.serve.results import RowResult, row_results
from rollscore.env.session import ScoringSession
from rollscore.pipeline.kernel import with_input_problems
from rollscore.rewards.result import ErrorKind, Problem

SERVE_TOKEN = "rollscore-serve"
"""The name a gathered frame's scoring tasks carry on the dashboard."""


@dataclass(frozen=True)
class Row:
    """One sample of a request: what the kernel scores, and why it cannot be scored (None if
    it can)."""

    ground_truth: object
    response: object
    data_source: object = None
    problem: Problem | None = None


@dataclass
class _Pending:
    rows: Sequence[Row]
    answer: asyncio.Future[list[RowResult]]


class Batcher:
    """Scores requests' rows on ``session``, gathered into frames (see the module docstring).

    Start it with :meth:`start` inside the event loop, stop it with :meth:`stop`, which
    finishes every request already accepted first.
    """

    def __init__(
        self,
        session: ScoringSession,
        max_rows: int = 256,
        max_wait: float = 0.005,
        frames_in_flight: int = 4,
        max_queued_rows: int = 20_000,
        deadline: float = 120.0,
    ) -> None:
        self.session = session
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.frames_in_flight = frames_in_flight
        self.max_queued_rows = max_queued_rows
        self.deadline = deadline
        self.queued_rows = 0
        self._waiting: asyncio.Queue[_Pending] | None = None
        self._gatherer: asyncio.Task[None] | None = None
        self._scoring: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._threads = ThreadPoolExecutor(frames_in_flight, thread_name_prefix="rollscore-serve")
        self._accepting = False
        self.seconds_per_frame = 0.05
        """A running estimate of the time a frame takes, for the ``Retry-After`` of a refusal."""

    @property
    def accepting(self) -> bool:
        """Whether requests are taken (between :meth:`start` and :meth:`stop`)."""
        return self._accepting

    async def start(self) -> None:
        self._waiting = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.frames_in_flight)
        self._gatherer = asyncio.create_task(self._gather_forever(), name="rollscore-gatherer")
        self._accepting = True

    async def stop(self) -> None:
        """Refuse new requests, score every one accepted, then release the threads."""
        self._accepting = False
        while self.queued_rows:
            await asyncio.sleep(0.01)
        if self._gatherer is not None:
            self._gatherer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gatherer
        if self._scoring:
            await asyncio.gather(*self._scoring, return_exceptions=True)
        self._threads.shutdown(wait=True)

    @property
    def columns(self) -> list[str]:
        """The score columns of a result: the kernel's step and component columns."""
        return self.session.columns(components=True)

    async def score(self, rows: Sequence[Row]) -> list[RowResult]:
        """The kernel's step and component columns for each of ``rows``, in their order.

        Raises :class:`TooManyRows` for more rows than the queue holds, :class:`Overloaded`
        when the queue is full, :class:`ShuttingDown` after
        :meth:`stop`, :class:`DeadlineExceeded` after ``deadline`` seconds, and whatever
        stopped the scoring of the frame (a scoring process that cannot start, a lost
        cluster).
        """
        if not self._accepting or self._waiting is None:
            raise ShuttingDown("the server is shutting down")
        if not rows:  # nothing to score, and no cluster asked
            return []
        if len(rows) > self.max_queued_rows:
            raise TooManyRows(len(rows), self.max_queued_rows)
        if self.queued_rows + len(rows) > self.max_queued_rows:
            raise Overloaded(self.queued_rows, self.max_queued_rows, self._retry_after())
        pending = _Pending(rows, asyncio.get_running_loop().create_future())
        pending.answer.add_done_callback(_retrieved)
        self.queued_rows += len(rows)
        self._waiting.put_nowait(pending)
        try:
            # shielded: a request that gives up leaves its rows to be scored with their frame
            return await asyncio.wait_for(asyncio.shield(pending.answer), self.deadline)
        except asyncio.TimeoutError:  # on Python 3.10 not the built-in TimeoutError
            raise DeadlineExceeded(
                f"not scored within the server's deadline of {self.deadline:g} s"
            ) from None

    def _retry_after(self) -> int:
        """Seconds until the queue has room, about: the frames ahead, at the recent pace."""
        frames_ahead = self.queued_rows / (self.max_rows * self.frames_in_flight)
        return max(1, math.ceil(frames_ahead * self.seconds_per_frame))

    async def _gather_forever(self) -> None:
        assert self._waiting is not None and self._slots is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._waiting.get()
            gathered, rows = [first], len(first.rows)
            closes = loop.time() + self.max_wait
            while rows < self.max_rows:
                remaining = closes - loop.time()
                if remaining <= 0 and self._waiting.empty():
                    break
                try:
                    following = (
                        self._waiting.get_nowait()
                        if remaining <= 0
                        else await asyncio.wait_for(self._waiting.get(), remaining)
                    )
                except asyncio.TimeoutError:
                    break
                gathered.append(following)
                rows += len(following.rows)
            await self._slots.acquire()
            task = asyncio.create_task(self._score_frame(gathered))
            self._scoring.add(task)
            task.add_done_callback(self._scoring.discard)

    async def _score_frame(self, gathered: list[_Pending]) -> None:
        assert self._slots is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            frame = rows_frame([row for pending in gathered for row in pending.rows])
            scores = await loop.run_in_executor(self._threads, self._results, frame)
        except Exception as error:
            for pending in gathered:
                if not pending.answer.done():
                    pending.answer.set_exception(error)
        else:
            start = 0
            for pending in gathered:
                end = start + len(pending.rows)
                if not pending.answer.done():
                    pending.answer.set_result(scores[start:end])
                start = end
            self.seconds_per_frame = 0.8 * self.seconds_per_frame + 0.2 * (loop.time() - started)
        finally:
            self.queued_rows -= sum(len(pending.rows) for pending in gathered)
            self._slots.release()

    def _results(self, frame: pd.DataFrame) -> list[RowResult]:
        """A frame's rows scored, as JSON values (in a worker thread: the loop only slices)."""
        return row_results(self.session.score(frame, True, SERVE_TOKEN))


def _retrieved(answer: asyncio.Future[list[RowResult]]) -> None:
    """Marks the outcome of a request that gave up (its deadline passed, its client left) as
    seen, so asyncio does not report it as never retrieved."""
    if not answer.cancelled():
        answer.exception()


def encodable(row: Row) -> Row:
    """``row``, or, when one of its texts cannot be encoded as UTF-8 (a lone surrogate, which
    JSON can carry), the row without its texts and with that problem: one such text would
    otherwise fail its whole frame where the kernel's columns are built."""
    for name in ("ground_truth", "response", "data_source"):
        value = getattr(row, name)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                problem = Problem(
                    ErrorKind.UNREADABLE_ROW,
                    f"{name} holds text that cannot be encoded as UTF-8 ({error.reason})",
                )
                return Row(None, None, None, row.problem or problem)
    return row


def rows_frame(rows: Sequence[Row]) -> pd.DataFrame:
    """The frame the kernel scores for ``rows``: ``ground_truth``, ``response`` and
    ``data_source`` as given, and each row's problem handed over to the kernel."""
    rows = [encodable(row) for row in rows]
    frame = pd.DataFrame(
        {
            "ground_truth": pd.Series([row.ground_truth for row in rows], dtype=object),
            "response": pd.Series([row.response for row in rows], dtype=object),
            "data_source": pd.Series([row.data_source for row in rows], dtype=object),
        }
    )
    return with_input_problems(frame, [row.problem for row in rows])
