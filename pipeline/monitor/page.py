"""The dashboard's rollscore page, ``/individual-rollscore``: a run's rows and rows per second,
its correct rows and errors per data source, its error kinds, its reward histogram and
math-verify's seconds per question, live; the run followed is the one that scored last, or the
one chosen in the page.

Dask's dashboard has no public way to add a page to a running scheduler: its Bokeh pages are
fixed when the scheduler starts (``distributed.dashboard.scheduler.applications``).
:func:`add_page` adds one to the Bokeh server Dask runs, as Bokeh does for the pages it is
given, so that Dask lists it in ``/individual-plots.json`` (which dask-labextension reads) and
in its "More..." menu; ``tests/test_monitor_cluster.py`` fails when Dask changes what this
relies on.
"""

from __future__ import annotations

import html
import logging
import time
from datetime import datetime
from functools import partial

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.document import Document
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, DataTable, Div, NumberFormatter, Select, TableColumn
from bokeh.plotting import figure
from bokeh.server.contexts import ApplicationContext
from bokeh.server.tornado import BokehTornado
from bokeh.server.urls import per_app_patterns
from bokeh.server.views.ws import WSHandler
from distributed import Scheduler
from rollscore.pipeline.metrics import ERROR_KINDS
from rollscore.pipeline.monitor.runs import RECENT_SECONDS, RunFigureBook, RunFigures
from rollscore.pipeline.monitor.tally import (
    CORRECT,
    INCORRECT,
    MATH_VERIFY_BOUNDS,
    REWARD_BOUNDS,
)
from rollscore.rewards.result import ErrorKind

PAGE = "/individual-rollscore"
MENU_ENTRY = {"url": PAGE.strip("/"), "name": "Rollscore"}
"""The page in the "More..." menu, named as Dask names its ``individual-*`` pages."""
UPDATE_MILLISECONDS = 1000
FOLLOW_LATEST = ""
"""The run chooser's value for "the run that scored last"."""

logger = logging.getLogger(__name__)


def _bucket_labels(bounds: tuple[float, ...]) -> list[str]:
    return [f"≤ {bound:g}" for bound in bounds] + [f"> {bounds[-1]:g}"]


class RollscorePage:
    """One browser's view of the page: Bokeh models refreshed from the figures every second."""

    def __init__(self, book: RunFigureBook) -> None:
        self.book = book
        self.chooser = Select(title="Run or training session", value=FOLLOW_LATEST, options=[])
        self.headline = Div(text="", sizing_mode="stretch_width")
        self.sources = ColumnDataSource(data=self._source_rows(None))
        self.kinds = ColumnDataSource(
            data={"kind": list(ERROR_KINDS), "rows": [0] * len(ERROR_KINDS)}
        )
        self.rewards = ColumnDataSource(
            data={"bucket": _bucket_labels(REWARD_BOUNDS), "rows": [0] * (len(REWARD_BOUNDS) + 1)}
        )
        self.questions = ColumnDataSource(
            data={
                "bucket": _bucket_labels(MATH_VERIFY_BOUNDS),
                "questions": [0] * (len(MATH_VERIFY_BOUNDS) + 1),
            }
        )
        self.timeline = ColumnDataSource(data={"time": [], "rows": []})
        share = NumberFormatter(format="0.000")
        by_source = DataTable(
            source=self.sources,
            columns=[
                TableColumn(field="data_source", title="data source"),
                TableColumn(field="rows", title="rows"),
                TableColumn(field="correct", title="correct"),
                TableColumn(field="incorrect", title="incorrect"),
                TableColumn(field="errors", title="errors"),
                TableColumn(field="timeouts", title="timeouts"),
                TableColumn(field="fraction_correct", title="fraction correct", formatter=share),
                TableColumn(field="mean_reward", title="mean reward", formatter=share),
            ],
            index_position=None,
            height=180,
            sizing_mode="stretch_width",
        )
        by_kind = DataTable(
            source=self.kinds,
            columns=[
                TableColumn(field="kind", title="error kind"),
                TableColumn(field="rows", title="rows"),
            ],
            index_position=None,
            height=180,
            width=260,
        )
        self.root = column(
            row(self.chooser, self.headline, sizing_mode="stretch_width"),
            row(by_source, by_kind, sizing_mode="stretch_width"),
            row(
                self._histogram(self.rewards, "rows", "Rewards (rows)"),
                self._histogram(self.questions, "questions", "math-verify seconds per question"),
                self._rows_over_time(),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
        self.update()

    @staticmethod
    def _histogram(source: ColumnDataSource, field: str, title: str) -> figure:
        chart = figure(
            title=title,
            x_range=list(source.data["bucket"]),
            height=300,
            sizing_mode="stretch_width",
            tools="",
            toolbar_location=None,
        )
        chart.vbar(x="bucket", top=field, width=0.8, source=source, color="#1f77b4")
        chart.xaxis.major_label_orientation = 0.8
        chart.y_range.start = 0
        return chart

    def _rows_over_time(self) -> figure:
        chart = figure(
            title="Rows scored",
            x_axis_type="datetime",
            height=300,
            sizing_mode="stretch_width",
            tools="",
            toolbar_location=None,
        )
        chart.line(x="time", y="rows", source=self.timeline, line_width=2)
        return chart

    def _chosen(self) -> RunFigures | None:
        chosen = self.book.runs.get(self.chooser.value)
        return chosen if chosen is not None else self.book.latest()

    def update(self) -> None:
        """Show the chosen run's figures as they are now."""
        now = time.time()
        self.chooser.options = [(FOLLOW_LATEST, "the latest")] + [
            (run.id, f"{run.name} ({datetime.fromtimestamp(run.started):%H:%M:%S})")
            for run in reversed(self.book.runs.values())
        ]
        run = self._chosen()
        self.headline.text = self._headline(run, now)
        self.sources.data = self._source_rows(run)
        total = run.tally.total() if run else None
        no_questions = [0] * (len(MATH_VERIFY_BOUNDS) + 1)
        self.kinds.data = {
            "kind": list(ERROR_KINDS),
            "rows": [total.errors_of(kind) if total else 0 for kind in ERROR_KINDS],
        }
        self.rewards.data = {
            **self.rewards.data,
            "rows": total.rewards if total else [0] * (len(REWARD_BOUNDS) + 1),
        }
        self.questions.data = {
            **self.questions.data,
            "questions": list(run.tally.math_verify) if run else no_questions,
        }
        points = [(run.started, 0), *run.timeline] if run else []
        self.timeline.data = {
            "time": [datetime.fromtimestamp(moment) for moment, _ in points],
            "rows": [rows for _, rows in points],
        }

    @staticmethod
    def _headline(run: RunFigures | None, now: float) -> str:
        if run is None:
            return "<p>No rollscore run has scored on this cluster yet.</p>"
        tally = run.tally
        total = tally.total()
        rows = total.rows
        asked = sum(tally.math_verify)
        correct = f"{total.count(CORRECT) / rows:.1%}" if rows else "-"
        figures = [
            ("rows", f"{rows:,}"),
            ("rows/s", f"{run.rows_per_second():,.0f}"),
            (f"rows/s, last {RECENT_SECONDS:g} s", f"{run.recent_rows_per_second(now):,.0f}"),
            ("correct", correct),
            ("errors", f"{rows - total.count(CORRECT) - total.count(INCORRECT):,}"),
            ("timeouts", f"{total.errors_of(ErrorKind.TIMEOUT.value):,}"),
            ("math-verify questions", f"{asked:,}"),
            ("memo hits", f"{tally.memo_hits:,}"),
        ]
        cells = "".join(
            f'<div style="margin-right:2em"><div style="font-size:0.8em;color:#666">{label}'
            f'</div><div style="font-size:1.6em">{value}</div></div>'
            for label, value in figures
        )
        return (
            f'<h3 style="margin:0.2em 0">rollscore: {html.escape(run.name)}</h3>'
            f'<div style="display:flex;flex-wrap:wrap">{cells}</div>'
        )

    @staticmethod
    def _source_rows(run: RunFigures | None) -> dict[str, list]:
        columns: dict[str, list] = {
            name: []
            for name in (
                "data_source", "rows", "correct", "incorrect", "errors", "timeouts",
                "fraction_correct", "mean_reward",
            )
        }  # fmt: skip
        for label, source in sorted(run.tally.sources.items()) if run else ():
            rows = source.rows
            columns["data_source"].append(label)
            columns["rows"].append(rows)
            columns["correct"].append(source.count(CORRECT))
            columns["incorrect"].append(source.count(INCORRECT))
            columns["errors"].append(sum(source.errors))
            columns["timeouts"].append(source.errors_of(ErrorKind.TIMEOUT.value))
            columns["fraction_correct"].append(source.count(CORRECT) / rows if rows else None)
            columns["mean_reward"].append(source.reward_sum / rows if rows else None)
        return columns


def page_document(book: RunFigureBook, document: Document) -> None:
    """Build the page for one browser (a Bokeh function handler)."""
    page = RollscorePage(book)
    document.title = "Dask: rollscore"
    document.add_root(page.root)
    document.add_periodic_callback(page.update, UPDATE_MILLISECONDS)


def dashboard_of(scheduler: Scheduler) -> BokehTornado | None:
    """The Bokeh server of the scheduler's dashboard, found as Dask's ``/individual-plots.json``
    finds it; None when the scheduler runs no dashboard."""
    applications = getattr(scheduler.http_application, "applications", [])
    return next((app for app in applications if isinstance(app, BokehTornado)), None)


def add_page(scheduler: Scheduler, book: RunFigureBook) -> bool:
    """Add the page to the scheduler's dashboard, listed with Dask's ``individual-*`` pages and
    in its "More..." menu; False when the scheduler runs no dashboard."""
    dashboard = dashboard_of(scheduler)
    if dashboard is None:
        return False
    if PAGE not in dashboard.app_paths:
        application = Application(FunctionHandler(partial(page_document, book)))
        context = ApplicationContext(application, io_loop=dashboard.io_loop, url=PAGE)
        # Private: Bokeh's ``applications`` property is the live mapping its server reads pages
        # from; Dask lists a page in /individual-plots.json when it is there.
        dashboard.applications[PAGE] = context  # type: ignore[index]
        dashboard.add_handlers(r".*", _page_routes(dashboard.prefix, context))
    _add_to_menu(scheduler)
    return True


def _page_routes(prefix: str, context: ApplicationContext) -> list[tuple]:
    """Bokeh's routes of one page (as ``BokehTornado`` makes them for the pages it is given)."""
    websocket = prefix + PAGE + "/ws"
    routes = []
    for pattern, handler in per_app_patterns:
        options = {"application_context": context, "bokeh_websocket_path": websocket}
        if issubclass(handler, WSHandler):
            options |= {"compression_level": None, "mem_level": None}
        routes.append((prefix + PAGE + pattern, handler, options))
    return routes


def _add_to_menu(scheduler: Scheduler) -> None:
    """List the page in the dashboard's "More..." menu."""
    from distributed.dashboard.scheduler import template_variables

    # Private: Dask builds the menu once per scheduler (memoised), and every page it serves
    # shares that list; a page added later is appended to it.
    plots = template_variables(scheduler)["plots"]
    if MENU_ENTRY not in plots:
        plots.append(dict(MENU_ENTRY))
        plots.sort(key=lambda plot: plot["name"])
