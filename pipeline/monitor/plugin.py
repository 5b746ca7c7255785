"""The scheduler plugin that gathers the tallies of scoring tasks and shows them: in the
scheduler's Prometheus ``/metrics`` and on its dashboard page. Every front end that scores on a
cluster installs it from its client (:func:`install_monitor`); on a scheduler that has it
already, installing it again does nothing, so runs and sessions share it. It stays when they
end, holding their figures, and costs nothing while nothing scores.

The scheduler unpickles the plugin, so rollscore must be importable there: on a cluster
rollscore starts it is; on one reached by address, install rollscore beside the scheduler as
beside the workers.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Hashable
from typing import Any

import dask
from distributed import Client, Scheduler, SchedulerPlugin, span
from distributed.metrics import time
from rollscore.pipeline.monitor.prometheus import collector
from rollscore.pipeline.monitor.report import TOPIC
from rollscore.pipeline.monitor.runs import RunFigureBook
from rollscore.pipeline.monitor.tally import Tally

SPAN_TAG = "rollscore"
"""The first tag of the Dask span of every run and training session; the second is its name."""


def new_span(name: str) -> dict[str, Any]:
    """A new Dask span for a run or training session, as the annotation its graphs are
    submitted with (``dask.annotate(span=...)``): every graph submitted with it belongs to that
    one span. Its collections are built outside it, where Dask's dataframes do not warn that
    they ignore annotations (the client applies them when it submits)."""
    with span(SPAN_TAG, name):
        return dask.get_annotations()["span"]


logger = logging.getLogger(__name__)


class RollscoreMonitor(SchedulerPlugin):
    """Counts each scoring task's tally once (see :mod:`.runs`) and serves the figures."""

    name = "rollscore-monitor"
    idempotent = True

    def __init__(self) -> None:
        self.book = RunFigureBook()
        self.scheduler: Scheduler | None = None

    async def start(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        collector.watch(self.book)
        # imported here, where it runs: the processes that install the plugin, and the workers
        # that import the run's module, need not load Bokeh's server
        from rollscore.pipeline.monitor.page import add_page

        try:
            add_page(scheduler, self.book)
        except Exception:  # the figures still reach /metrics
            logger.warning("rollscore could not add its dashboard page", exc_info=True)

    async def close(self) -> None:
        collector.unwatch(self.book)

    def log_event(self, topic: str, msg: Any) -> None:
        if topic != TOPIC or self.scheduler is None:
            return
        try:
            key: Hashable = msg["key"]
            task = self.scheduler.tasks.get(key)
            if task is None:  # cancelled, forgotten: its rows were not wanted
                return
            self.book.reported(
                key,
                str(msg["span"]),
                str(msg["name"][-1]),
                float(msg["started"]),
                Tally.from_message(msg["tally"]),
                in_memory=task.state == "memory",
                now=time(),
            )
        except (KeyError, IndexError, TypeError, ValueError):
            logger.warning("rollscore ignored an event it cannot read: %.200r", msg)

    def transition(self, key: Hashable, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if key not in self.book.partitions:  # the scheduler's every transition: keep it cheap
            return
        if finish == "memory":
            self.book.in_memory(key, time())
        elif finish == "forgotten":
            self.book.forgotten(key)


def install_monitor(client: Client) -> bool:
    """Install the monitor on ``client``'s scheduler unless it is there; False, with a warning
    that says why, when the scheduler cannot take it (rollscore does not import there): the
    scoring goes on, unwatched."""
    try:
        client.register_plugin(RollscoreMonitor())
    except (ImportError, AttributeError, TypeError) as error:
        warnings.warn(
            f"rollscore: the scheduler could not install rollscore's monitor ({error}); "
            "scoring goes on without its figures in /metrics and the dashboard "
            "(install rollscore where the scheduler runs)",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True
