"""``rollscore report``: the run as one self-contained HTML page.

:mod:`.data` computes the numbers with Dask reductions, :mod:`.figures` draws the charts
(matplotlib, the ``report`` extra), :mod:`.html` renders the page.
"""

from __future__ import annotations

from distributed import Client
from rollscore.pipeline.errors import OutputExists, ReportUnavailable
from rollscore.pipeline.output import MANIFEST, OWN_FILES, REPORT, OutputDir, atomic_output


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
    ``OUTDIR/report.html``, listed in its ``run.json`` as rollscore's own), computing it on
    ``client`` (default: the current client), and return where it went. Raises ``InputError``
    when ``outdir`` is not a scored dataset, ``OutputExists`` when ``OUTDIR/report.html`` is a
    file of the user's."""
    require_plotting()
    # imported here, so that matplotlib loads only when a report is written
    from rollscore.pipeline.report.data import report_data
    from rollscore.pipeline.report.html import render_report

    folder = OutputDir(outdir)
    manifest = folder.read_json(MANIFEST) or {}
    listed = manifest.get(OWN_FILES)
    if output is None and folder.has(REPORT) and REPORT not in (listed or ()):
        raise OutputExists(
            f"{folder.path(REPORT)} is not a report rollscore wrote: move it, or write the "
            "report elsewhere with --output FILE.html"
        )
    page = render_report(report_data(outdir, client))
    target = output or folder.path(REPORT)
    with atomic_output(target) as handle:
        handle.write(page.encode())
    if output is None and listed is not None and REPORT not in listed:
        folder.write_json(MANIFEST, {**manifest, OWN_FILES: [*listed, REPORT]})
    return target
