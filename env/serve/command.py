"""``rollscore serve``: the service on a Dask cluster, from start to a clean exit.

The listening address is checked before anything starts: 127.0.0.1 (or another loopback
address) serves anyone on this machine; any other address needs a token (``--token`` or
``ROLLSCORE_SERVE_TOKEN``), or the explicit ``--no-token``, and the first line printed says
which. On ``SIGTERM`` (or Ctrl-C) the server stops accepting connections, answers every request
it has accepted, and exits 0 (130 for Ctrl-C), within :func:`shutdown_grace`.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from types import FrameType

from distributed import Client
from rollscore.env.serve.app import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    ServeSettings,
    create_app,
)
from rollscore.env.serve.batcher import Batcher
from rollscore.env.serve.nemo_gym import DEFAULT_GROUND_TRUTH_FIELD
from rollscore.env.session import ScoringSession
from rollscore.pipeline.cluster import is_loopback
from rollscore.pipeline.errors import ServeRefused
from rollscore.rewards import ScoringConfig

TOKEN_VARIABLE = "ROLLSCORE_SERVE_TOKEN"
"""The environment variable a token may come from instead of ``--token`` (which other users of
the machine can read in the process list)."""


@dataclass(frozen=True)
class ServeOptions:
    """How the service listens and gathers requests (the command's options)."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    no_token: bool = False
    """Listen beyond this machine without a token: explicitly asked for."""
    ground_truth_field: str = DEFAULT_GROUND_TRUTH_FIELD
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    """Seconds a request's body may take to arrive whole before a ``408``."""
    batch_rows: int = 256
    """Rows gathered into one frame at most."""
    batch_wait: float = 0.005
    """Seconds a frame waits for more rows after its first."""
    max_queued_rows: int = 20_000
    request_timeout: float = 60.0
    """Seconds a request may wait for its scores before a ``503``."""


def resolved_token(options: ServeOptions) -> str | None:
    """The token requests must carry: ``--token``, else the environment variable, else None.
    Raises :class:`ServeRefused` for an address beyond this machine without one (and without
    ``--no-token``), or for an empty token."""
    token = options.token if options.token is not None else os.environ.get(TOKEN_VARIABLE)
    if token is not None and not token.strip():
        raise ServeRefused("the token is empty: give a secret with --token or $" + TOKEN_VARIABLE)
    if token is None and not options.no_token and not is_loopback(options.host):
        raise ServeRefused(
            f"--host {options.host} listens beyond this machine: give a token (--token, or "
            f"${TOKEN_VARIABLE}) that requests must carry as 'Authorization: Bearer <token>', "
            "or --no-token to serve anyone who can reach it"
        )
    return token


def shutdown_grace(options: ServeOptions) -> int:
    """Seconds a stopping server waits for its open connections before it cuts them: time for
    a body still arriving to arrive (or get its ``408``) and then be answered (or get its
    ``503``), so only a client that does not read its answer is cut."""
    return math.ceil(options.body_timeout + options.request_timeout) + 1


def access_line(url: str, host: str, token: str | None) -> str:
    """What the command says at start about who can use it."""
    if token is not None:
        return f"rollscore serve: listening on {url}; requests need 'Authorization: Bearer <token>'"
    if is_loopback(host):
        return f"rollscore serve: listening on {url} (this machine only, no token)"
    return (
        f"rollscore serve: WARNING: listening on {url} WITHOUT a token (--no-token): anyone "
        "who can reach this address can use it"
    )


def serve(
    config: ScoringConfig,
    options: ServeOptions,
    cluster_client: Callable[[], AbstractContextManager[Client]],
) -> int:
    """Serve until ``SIGTERM`` or Ctrl-C, scoring on the cluster of ``cluster_client()``
    (entered once the address is known to be allowed); the exit status."""
    token = resolved_token(options)
    with cluster_client() as client:
        return _serve_on(config, options, token, client)


def _serve_on(
    config: ScoringConfig, options: ServeOptions, token: str | None, client: Client
) -> int:
    import uvicorn

    # a frame waits for a worker no longer than its requests wait for their scores
    session = ScoringSession(config, client, worker_wait=options.request_timeout)
    try:
        batcher = Batcher(
            session,
            max_rows=options.batch_rows,
            max_wait=options.batch_wait,
            frames_in_flight=max(2, 2 * session.partitions),
            max_queued_rows=options.max_queued_rows,
            deadline=options.request_timeout,
        )
        settings = ServeSettings(
            token, options.max_body_bytes, options.ground_truth_field, options.body_timeout
        )
        server_config = uvicorn.Config(
            create_app(batcher, settings),
            host=options.host,
            port=options.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=shutdown_grace(options),
        )
        listening = server_config.bind_socket()
        host, port = listening.getsockname()[:2]
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        print(access_line(url, options.host, token), file=sys.stderr, flush=True)
        server = uvicorn.Server(server_config)
        with _signal_already_handled(signal.SIGTERM):
            server.run(sockets=[listening])
        if not server.started:
            return 1
    finally:
        session.close()
    print("rollscore serve: stopped; every accepted request was answered", file=sys.stderr)
    return 0


@contextmanager
def _signal_already_handled(number: signal.Signals) -> Iterator[None]:
    """uvicorn shuts down gracefully on the signal, then raises it again for the handler that
    was there before it; this one lets the command go on to its exit status instead."""

    def shut_down_already(received: int, frame: FrameType | None) -> None:
        return None

    previous = signal.signal(number, shut_down_already)
    try:
        yield
    finally:
        signal.signal(number, previous)
