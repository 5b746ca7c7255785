"""The mistakes a user of the pipeline can make, each reported as one line before any work.

The CLI turns these (and :class:`rollscore.rewards.ConfigError`) into ``rollscore: error: ...``
and exit status 2.
"""

from __future__ import annotations

from rollscore.rewards.errors import ConfigError, VerifierUnavailable


class InputError(ValueError):
    """An input that cannot be read: missing, unmatched, of an unknown format, unreadable."""


class InputChanged(ValueError):
    """An input changed since the run planned it: resuming would mix two versions of it."""


class OutputExists(ValueError):
    """The output folder already holds results, and resuming was not asked for."""


class VerifierStackChanged(ValueError):
    """The verifier stack is not the one a run started with, or the workers disagree on it: one
    dataset must hold one verifier's verdicts."""


class WorkersCannotSee(ValueError):
    """A worker does not see the run's inputs or output folder as the client does."""


class OutputLocked(ValueError):
    """Another live rollscore run is writing the output folder."""


class NoWorkers(RuntimeError):
    """The scheduler a run was pointed at has no workers to score on."""


class ClusterLost(RuntimeError):
    """The Dask cluster went away in the middle of a run (the scheduler died, say)."""


class OutputUnwritable(RuntimeError):
    """A scored part could not be written (a full disk or a file size limit, say): the run stops,
    and what it wrote is resumed once there is room."""


class ReportUnavailable(RuntimeError):
    """The report was asked for, but the plotting library it needs is not installed."""


class SchedulerAddressError(ValueError):
    """The scheduler address given is not a Dask address."""


class DashboardAddressError(ValueError):
    """The dashboard was asked to listen beyond this machine, where it has no credentials."""


class ServeRefused(ValueError):
    """``rollscore serve`` cannot start as asked: an address beyond this machine without a
    token, or the ``serve`` extra is not installed."""


USER_ERRORS = (
    ConfigError,
    DashboardAddressError,
    InputChanged,
    InputError,
    NoWorkers,
    OutputExists,
    OutputLocked,
    ReportUnavailable,
    SchedulerAddressError,
    ServeRefused,
    VerifierStackChanged,
    VerifierUnavailable,
    WorkersCannotSee,
)
"""Everything the CLI reports as one line and exit status 2 (a scoring process that cannot
start is the user's machine to mend: its message carries the process's own last words)."""
