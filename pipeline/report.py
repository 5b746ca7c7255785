"""``rollscore report``: the HTML report of a scored dataset, written as one file."""

from __future__ import annotations

import fsspec
from distributed import Client

from pipeline.output import REPORT, OutputDir
from pipeline.report_data import report_data
from pipeline.report_html import render_report


def write_report(outdir: str, output: str | None = None, client: Client | None = None) -> str:
    """Write the report of the scored dataset in ``outdir`` to ``output`` (default
    ``OUTDIR/report.html``), computing it on ``client`` (default: the current client), and
    return where it went. Raises ``InputError`` when ``outdir`` is not a scored dataset."""
    page = render_report(report_data(outdir, client))
    target = output or OutputDir(outdir).path(REPORT)
    with fsspec.open(target, "w", encoding="utf-8") as handle:
        handle.write(page)
    return target
