"""The errors a user of the reward library can meet."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the offending entry."""


class UnknownReward(ValueError):
    """A reward name that is neither built in nor an importable ``module:function``."""


class VerifierUnavailable(RuntimeError):
    """A scoring process (math-verify, users' functions) could not be started at all."""


ERROR_TEXT_LIMIT = 500
"""Characters kept of an error's text: enough to say what went wrong, bounded for every row."""


def describe(error: BaseException, prefix: str = "") -> str:
    """``prefix`` then ``Type: message`` of ``error``, cut to :data:`ERROR_TEXT_LIMIT`."""
    return f"{prefix}{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT]
