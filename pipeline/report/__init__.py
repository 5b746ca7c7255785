"""``rollscore report``: the run as one self-contained HTML page.

:mod:`.data` computes the numbers with Dask reductions, :mod:`.figures` draws the charts
(matplotlib, the ``report`` extra), :mod:`.html` renders the page.
"""

from __future__ import annotations

import fsspec
from distributed import Client
from rollscore.pipeline.errors import ReportUnavailable
from rollscore.pipeline.output import REPORT, OutputDir


def require_plotting() -> None:
    """Raise :class:`ReportUnavailable` unless matplotlib, which draws the charts, is installed;
    checked before a run starts, so ``--report`` never fails at the end of a long run."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportUnavailable(
            "the report draws its charts with matplotlib, which is not installed: "
            "pip install 'rollscore[report]'"
        ) from None


def write_report(outdir: str, output: str | None = None, client: Client | None = None) -> str:
    """Write the report of the scored dataset in ``outdir`` to ``output`` (default
    ``OUTDIR/report.html``), computing it on ``client`` (default: the current client), and
    return where it went. Raises ``InputError`` when ``outdir`` is not a scored dataset."""
    require_plotting()
    # imported here, so that matplotlib loads only when a report is written
    from rollscore.pipeline.report.data import report_data
    from rollscore.pipeline.report.html import render_report

    page = render_report(report_data(outdir, client))
    target = output or OutputDir(outdir).path(REPORT)
    with fsspec.open(target, "w", encoding="utf-8") as handle:
        handle.write(page)
    return target
