"""The report's charts: matplotlib figures rendered to PNG bytes with the Agg canvas.

Figures are built with ``matplotlib.figure.Figure`` and ``FigureCanvasAgg`` rather than
pyplot: no display is needed, the caller's pyplot backend and open figures are left alone,
and nothing stays registered once the bytes are returned.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, PercentFormatter
from rollscore.pipeline.report.data import Histogram

SIZE = (6.0, 3.5)
"""Inches; at ``DPI`` a chart is 600 x 350 pixels."""
DPI = 100
PALETTE = (
    "#4269d0",
    "#efb118",
    "#ff725c",
    "#6cc5b0",
    "#3ca951",
    "#ff8ab7",
    "#a463f2",
    "#97bbf5",
    "#9c6b4e",
    "#9498a0",
)
"""One colour per data source, in the order the report lists them."""
CORRECT = "#3ca951"
INCORRECT = "#ff725c"
EDGE_TICKS = 4
"""Intervals between the labelled bin edges of a histogram's axis."""
OVERALL = "#333333"
TEXT = "#333333"
GRID = "#e5e5e5"
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.edgecolor": "#999999",
    "axes.labelcolor": TEXT,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "legend.frameon": False,
}


def source_colour(index: int) -> str:
    """The colour of the ``index``-th data source, the same in every chart."""
    return PALETTE[index % len(PALETTE)]


@contextmanager
def _chart() -> Iterator[tuple[Figure, Axes]]:
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.grid(axis="y", color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        yield figure, axes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def fraction_correct_chart(
    names: Sequence[str], correct: Sequence[int], rows: Sequence[int]
) -> bytes:
    """Horizontal bars of each data source's fraction correct, labelled ``correct / rows``."""
    with _chart() as (figure, axes):
        positions = np.arange(len(names))
        fractions = [c / n if n else 0.0 for c, n in zip(correct, rows)]
        colours = [source_colour(index) for index in range(len(names))]
        bars = axes.barh(positions, fractions, color=colours, height=0.6)
        labels = [f"{c:,} / {n:,}" for c, n in zip(correct, rows)]
        axes.bar_label(bars, labels=labels, padding=4, color=TEXT)
        axes.set_yticks(positions, labels=list(names))
        axes.invert_yaxis()
        axes.set_xlim(0, 1.18)
        axes.xaxis.set_major_locator(FixedLocator([0, 0.25, 0.5, 0.75, 1.0]))
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
        axes.grid(axis="y", visible=False)
        axes.grid(axis="x", color=GRID, linewidth=0.8)
        axes.set_xlabel("fraction correct")
        axes.set_title("Fraction correct by data source")
        return _png(figure)


def pass_at_k_chart(
    curves: Mapping[str, Mapping[int, float]], overall: Mapping[int, float]
) -> bytes:
    """pass@k against k (log2 axis): one line per data source, the whole run dashed."""
    with _chart() as (figure, axes):
        ks: set[int] = set(overall)
        for index, (name, curve) in enumerate(curves.items()):
            ks.update(curve)
            points = sorted(curve.items())
            axes.plot(
                [k for k, _ in points],
                [value for _, value in points],
                marker="o",
                markersize=4,
                color=source_colour(index),
                label=name,
            )
        points = sorted(overall.items())
        axes.plot(
            [k for k, _ in points],
            [value for _, value in points],
            linestyle="--",
            marker="s",
            markersize=4,
            color=OVERALL,
            label="all",
        )
        axes.set_xscale("log", base=2)
        axes.xaxis.set_major_locator(FixedLocator(sorted(ks) or [1]))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.xaxis.set_minor_locator(FixedLocator([]))
        axes.set_ylim(0, 1.02)
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_xlabel("k (samples drawn per prompt)")
        axes.set_ylabel("pass@k")
        axes.set_title("pass@k")
        axes.legend(loc="lower right", fontsize=8)
        return _png(figure)


def _bin_axis(axes: Axes, edges: Sequence[float]) -> np.ndarray:
    """Lay the x axis out by bin, ticks labelled with the edges' values, so any finite range
    draws (matplotlib's own locators fail on spans near the float limit); returns the bins'
    positions for ``stairs``."""
    positions = np.arange(len(edges), dtype=float)
    shown = sorted({round(i * (len(edges) - 1) / EDGE_TICKS) for i in range(EDGE_TICKS + 1)})
    axes.set_xlim(0, len(edges) - 1)
    axes.xaxis.set_major_locator(FixedLocator(shown))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda position, _: f"{edges[int(position)]:.3g}"))
    return positions


def histogram_chart(histogram: Histogram, title: str, xlabel: str, colour: str) -> bytes:
    """One histogram's bars, with the number of values in the title."""
    with _chart() as (figure, axes):
        positions = _bin_axis(axes, histogram.edges)
        axes.stairs(histogram.counts, positions, fill=True, color=colour, alpha=0.85)
        axes.stairs(histogram.counts, positions, color="white", linewidth=0.6)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(xlabel)
        axes.set_ylabel("rows")
        axes.set_title(f"{title}  ({histogram.total:,} rows)")
        return _png(figure)


def length_chart(correct: Histogram, incorrect: Histogram, title: str, xlabel: str) -> bytes:
    """Overlaid histograms of the lengths of correct and of incorrect responses."""
    with _chart() as (figure, axes):
        positions = _bin_axis(axes, correct.edges)
        for histogram, colour, label in (
            (incorrect, INCORRECT, "incorrect"),
            (correct, CORRECT, "correct"),
        ):
            axes.stairs(histogram.counts, positions, fill=True, color=colour, alpha=0.35)
            axes.stairs(
                histogram.counts,
                positions,
                color=colour,
                linewidth=1.5,
                label=f"{label} ({histogram.total:,})",
            )
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(xlabel)
        axes.set_ylabel("rows")
        axes.set_title(title)
        axes.legend(loc="upper right")
        return _png(figure)
