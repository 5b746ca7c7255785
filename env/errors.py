"""The errors a user of the training adapter can meet, beside those of
:mod:`rollscore.rewards.errors` (a bad configuration, a scoring process that cannot start)."""

from __future__ import annotations


class EnvironmentClosed(RuntimeError):
    """A step was asked of an environment that has been shut down."""
