"""Which Dask cluster scoring uses: an existing scheduler, or a local cluster started here.

The scheduler address comes from the argument or Dask's own ``scheduler-address`` setting
(``DASK_SCHEDULER_ADDRESS``, ``~/.config/dask``), read at call time. A cluster found that way
is never shut down; a local one is started and closed here. Both the CLI and the training
adapter start their local clusters with :func:`local_cluster`, which listens on 127.0.0.1
only, its dashboard included, unless asked otherwise.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from types import FrameType

import dask
from dask.utils import parse_timedelta
from distributed import Client, LocalCluster, Security, Worker, WorkerPlugin
from distributed import TimeoutError as DaskTimeoutError  # asyncio's, on Python 3.10
from rollscore.pipeline.errors import DashboardAddressError, NoWorkers, SchedulerAddressError
from rollscore.rewards.verifier import pool


def default_workers() -> int:
    """One single-threaded worker process per core."""
    return os.cpu_count() or 1


DASK_DEFAULT_DASHBOARD = ":8787"
"""Dask's own default, on every network interface."""
LOOPBACK = "127.0.0.1"
LOCAL_DASHBOARD = f"{LOOPBACK}:8787"
WORKER_WAIT = 60.0
"""Seconds to wait for an existing scheduler to have a worker before saying it has none."""
HISTORY_LENGTH = 120
"""Entries each of Dask's low-level histories keeps in the clusters started here, the workers'
one-second statistical profiles among them: the dashboard's profile covers the last two
minutes. Dask's own 1,000 grow each worker by hundreds of megabytes over a long run."""
LOST_WORKER_TIMEOUT_KEY = "distributed.deploy.lost-worker-timeout"
DASK_LOST_WORKER_TIMEOUT = "15s"
"""Dask's default: a local cluster closes the nanny of a worker not back this long after it was
lost, so a nanny still restarting its worker then (after a slow start on a busy machine, or a
second crash) is closed with it, and the cluster stays a worker short for good."""
LOST_WORKER_TIMEOUT = "30 days"
"""What the processes that start rollscore's local clusters wait instead: longer than any run,
so a nanny always brings its worker back."""


def dashboard_address(given: str | None = None) -> str:
    """Where the dashboard listens: ``given``, else Dask's
    ``distributed.scheduler.dashboard.address`` when it was set to something else than Dask's
    default, else 127.0.0.1 (another free port if 8787 is taken). Raises
    :class:`DashboardAddressError` for an address beyond this machine's loopback: the dashboard
    takes no credentials, so anyone who reached it would see every run's work."""
    configured = dask.config.get("distributed.scheduler.dashboard.address", None)
    if not given and configured and configured != DASK_DEFAULT_DASHBOARD:
        given = configured
    if given and not is_loopback(given.rpartition(":")[0].strip("[]")):  # ":PORT": every one
        raise DashboardAddressError(
            f"the dashboard would listen on {given}, beyond this machine, and it takes no "
            "credentials: give a 127.0.0.1 address and reach it through an SSH tunnel (ssh -L "
            "8787:127.0.0.1:8787 HOST)"
        )
    return given or LOCAL_DASHBOARD


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address of this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keep_restarting_workers() -> None:
    """Let every nanny of a local cluster of this process bring its worker back however late,
    by Dask's own setting (read when a worker is lost), unless the user has set it."""
    configured = parse_timedelta(dask.config.get(LOST_WORKER_TIMEOUT_KEY))
    if configured == parse_timedelta(DASK_LOST_WORKER_TIMEOUT):
        dask.config.set({LOST_WORKER_TIMEOUT_KEY: LOST_WORKER_TIMEOUT})


def local_cluster(
    workers: int | None = None, dashboard: str | None = None, in_process: bool = False
) -> LocalCluster:
    """A new ``LocalCluster`` of ``workers`` single-threaded worker processes on 127.0.0.1 (one
    per core by default: the scoring processes do the parallel work, one per thread), or,
    ``in_process``, of one worker in this process with ``workers`` threads, which starts and
    stops in a fraction of a second; its dashboard at :func:`dashboard_address`. Its workers'
    nannies bring them back however late (:func:`keep_restarting_workers`).

    It speaks TLS with credentials made for it alone (``Security.temporary()``, held in memory
    and handed to its own clients and workers): any other process of the machine, any other
    user on a shared login node, could otherwise connect to 127.0.0.1 and run code in its
    workers, or in this process."""
    keep_restarting_workers()
    threads = workers or default_workers()
    placement = (
        {"n_workers": 1, "threads_per_worker": threads, "processes": False}
        if in_process
        else {"n_workers": threads, "threads_per_worker": 1, "processes": True}
    )
    with (
        warnings.catch_warnings(),  # a taken port: Dask uses another, and the link says which
        dask.config.set({"distributed.admin.low-level-log-length": HISTORY_LENGTH}),
    ):
        warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
        return LocalCluster(
            **placement,
            host=LOOPBACK,
            protocol="tls",
            security=Security.temporary(),
            dashboard_address=dashboard_address(dashboard),
        )


REPORTED_ERRORS = ("VerifierUnavailable(", "InputChanged(", "InputError(", "OutputUnwritable(")
"""The errors a task raises that its caller reports in one line of its own (a scoring process
that cannot start, an input that changed since it was planned or cannot be read, a part that
cannot be written), as Dask's text of them."""


def _not_reported_by_the_caller(record: logging.LogRecord) -> bool:
    """Whether a worker's log record is not Dask's traceback of a task that raised one of
    :data:`REPORTED_ERRORS` (Dask logs ``"Compute Failed"`` with the exception's text fourth)."""
    arguments = record.args if isinstance(record.args, tuple) else ()
    return not (
        str(record.msg).startswith("Compute Failed")
        and len(arguments) > 3
        and str(arguments[3]).startswith(REPORTED_ERRORS)
    )


CANCELLED_AT_CLOSE = "ended with CancelledError"
"""The end of the warning a worker logs for each task it cuts short as it closes (Dask's text,
no public API; a test checks that Dask still says it)."""


def _not_cut_short_at_close(record: logging.LogRecord) -> bool:
    """Whether a worker's state machine record is not the warning of :data:`CANCELLED_AT_CLOSE`."""
    return not str(record.msg).endswith(CANCELLED_AT_CLOSE)


class QuietReportedErrors(WorkerPlugin):
    """Keeps the workers of a local cluster, whose logs go to the user's terminal, from logging
    what the command or adapter says in one line itself: a traceback for an error it reports,
    and a warning for each task cut short when the cluster closes after a Ctrl-C."""

    name = "rollscore-quiet-reported-errors"

    def setup(self, worker: Worker) -> None:
        logging.getLogger("distributed.worker").addFilter(_not_reported_by_the_caller)
        logging.getLogger("distributed.worker.state_machine").addFilter(_not_cut_short_at_close)


def _exit_now() -> None:
    """End this process at once, its logs and streams flushed."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class QuickExit(WorkerPlugin):
    """Ends each worker process of a local cluster as soon as it has closed, without the
    interpreter's teardown of Dask's, pandas' and pyarrow's modules: on a busy machine that
    teardown outlasts the 4 s a nanny gives its closing worker, and the nanny kills it, saying
    so on the user's terminal. Its scoring processes end by themselves once their worker's
    pipes close."""

    name = "rollscore-quick-exit"

    def setup(self, worker: Worker) -> None:
        if multiprocessing.parent_process() is not None:  # a worker process of its own
            atexit.register(_exit_now)  # the last registered: the first exit handler to run


def _left_to_the_caller(number: int, frame: FrameType | None) -> None:
    """A worker's SIGTERM: nothing. The process that started the cluster got it too, and closes
    the cluster once it has finished what it accepted."""


class StopSignalsToTheCaller(WorkerPlugin):
    """Leaves the stop signals sent to a whole process group to the process that started the
    local cluster, which closes it itself: a Ctrl-C in a terminal (SIGINT) and a service
    manager's or ``kill -TERM -PGID``'s SIGTERM reach every process of the group. Each worker
    process ignores SIGINT, on which it would print its own KeyboardInterrupt traceback, and
    does nothing on SIGTERM, on which it would die under the work its caller still finishes.

    SIGTERM gets a handler rather than ``SIG_IGN``, which the scoring processes a worker starts,
    and what they start, would inherit. A worker over its memory limit, which Dask's nanny stops
    with SIGTERM, is killed on the nanny's next look instead; one whose caller died ends by
    itself, as Dask's workers do."""

    name = "rollscore-stop-signals-to-the-caller"

    def setup(self, worker: Worker) -> None:
        in_main_thread = threading.current_thread() is threading.main_thread()
        if multiprocessing.parent_process() is not None and in_main_thread:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, _left_to_the_caller)


def local_client(cluster: LocalCluster, **options: object) -> Client:
    """A client of a local cluster rollscore started, its workers quiet about the errors the
    caller reports (:class:`QuietReportedErrors`), deaf to a Ctrl-C or SIGTERM sent to the
    whole process group (:class:`StopSignalsToTheCaller`) and quick to exit
    (:class:`QuickExit`)."""
    client = Client(cluster, **options)
    client.register_plugin(QuietReportedErrors())
    client.register_plugin(StopSignalsToTheCaller())
    client.register_plugin(QuickExit())
    return client


@contextmanager
def scoring_client(
    scheduler: str | None = None,
    workers: int | None = None,
    dashboard: str | None = None,
    worker_wait: float = WORKER_WAIT,
    in_process: bool = False,
) -> Iterator[Client]:
    """A client for the run: connected to ``scheduler`` (or Dask's configured address), once it
    has a worker (:class:`NoWorkers` after ``worker_wait`` seconds without one), or to a new
    :func:`local_cluster` of ``workers`` (``in_process`` or not), closed on exit.

    The client is closed, never entered with ``with``: an entered client must be left in the
    thread or task that entered it, and an adapter may close its client from another one.
    """
    address = scheduler or dask.config.get("scheduler-address", None)
    if address:
        try:
            connected = Client(address)
        except ValueError as error:  # Dask's reading of the address
            raise SchedulerAddressError(
                f"the scheduler address {address!r} is not one: {error}"
            ) from None
        with closing(connected) as client:
            try:
                client.wait_for_workers(1, timeout=worker_wait)
            except DaskTimeoutError:
                raise NoWorkers(
                    f"the scheduler at {address} has no workers after {worker_wait:g} s: "
                    f"start some, e.g. 'dask worker {address}'"
                ) from None
            yield client
        return
    with (
        local_cluster(workers, dashboard, in_process) as cluster,
        closing(local_client(cluster)) as client,
    ):
        yield client


async def prestart_scoring_processes(dask_worker: Worker) -> None:
    """Start a worker's scoring processes, one per thread, without waiting for them (a
    coroutine, for ``client.run(..., wait=False)``): they start while the client plans and sends
    work."""
    pool.scoring_processes.prestart(dask_worker.state.nthreads)


def worker_count(client: Client) -> int:
    """Threads across the cluster's workers: how many partitions score at once."""
    return max(1, sum(client.nthreads().values()))
