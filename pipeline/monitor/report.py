"""What a scoring task tells the cluster, from the worker: its partition's tally, once, to the
scheduler (as a Dask event, keyed by the task's key and its span), and its time by activity to
Dask's fine performance metrics. Outside a Dask task nothing is sent.
"""

from __future__ import annotations

import dask
from distributed import get_worker
from distributed.metrics import context_meter
from rollscore.pipeline.monitor.tally import Tally
from rollscore.rewards.batch import BatchStats

TOPIC = "rollscore-tally"
"""The topic of the events that carry the tallies (see :mod:`.plugin`)."""
DEFAULT_SPAN = ("default",)
"""Dask's name for the span of tasks submitted outside any span."""


def digest_activities(stats: BatchStats) -> None:
    """Give Dask's fine performance metrics the seconds scoring spent by activity, so that a
    scoring task's time is split into math-verify, users' functions, the other rewards and the
    rest; they are taken off the task's own ``thread-cpu`` and ``thread-noncpu`` seconds.
    Outside a Dask task there is no one to take them and nothing happens."""
    for activity, seconds in stats.seconds.items():
        if seconds:
            context_meter.digest_metric(activity, seconds, "seconds")


def report_tally(tally: Tally, started: float) -> None:
    """Send a partition's tally to the scheduler from the Dask task that scored it, with the
    task's key (a partition scored again after its worker died replaces its earlier tally), its
    span (the run or training session it belongs to) and when its scoring ``started`` (seconds
    since the epoch). Outside a Dask task, nothing is sent."""
    try:
        worker = get_worker()
        key = worker.get_current_task()
    except (ValueError, KeyError):  # not on a worker, or not in one of its tasks
        return
    span = dask.get_annotations().get("span")
    worker.log_event(
        TOPIC,
        {
            "key": key,
            "span": span["ids"][-1] if span else None,
            "name": list(span["name"]) if span else list(DEFAULT_SPAN),
            "started": started,
            "tally": tally.to_message(),
        },
    )
