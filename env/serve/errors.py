"""Why the service answers a request with something else than its scores."""

from __future__ import annotations


class InvalidRequest(ValueError):
    """A request whose body parses but cannot be scored as sent (answered ``422``)."""


class Overloaded(Exception):
    """More rows are waiting than the server accepts (answered ``503`` with ``Retry-After``)."""

    def __init__(self, queued: int, limit: int, retry_after: int) -> None:
        super().__init__(
            f"the server is at its limit of {limit:,} queued rows ({queued:,} waiting); "
            f"retry in {retry_after} s"
        )
        self.retry_after = retry_after


class TooManyRows(Exception):
    """A request of more rows than the server queues at once (answered ``413``): accepted, it
    would hold every other request off until it was scored."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(
            f"the request holds {rows:,} rows, more than the server's limit of {limit:,} queued "
            "rows: send them in parts, or start the server with a larger --max-queued-rows"
        )


class DeadlineExceeded(Exception):
    """A request was not scored within the server's deadline (answered ``503``)."""


class ShuttingDown(Exception):
    """The server has stopped accepting requests (answered ``503``)."""
