"""The ``rollscore`` command's entry point: the command line of :mod:`.cli`, imported here so
that a Ctrl-C during its imports (a second or two of Dask, pandas and pyarrow) ends in the
command's one line, not a traceback."""

from __future__ import annotations

import sys


def run() -> None:
    """Import the command line and run it; Ctrl-C before it takes the signal exits 130."""
    try:
        from rollscore.pipeline.cli import run as run_command_line

        run_command_line()
    except KeyboardInterrupt:
        print("rollscore: interrupted", file=sys.stderr)
        sys.exit(130)
