"""The ASGI app of ``rollscore serve``: every protocol's routes, ``GET /health``, the token
check, the body's size limit and timeout, and one clear message for each way a request can go
wrong.

=========================  ======  ==============================================
what                       status  e.g. ``detail``
=========================  ======  ==============================================
body empty or not JSON     400     ``the body is not valid JSON: ...``
missing or wrong field     422     ``body.labels.0: Input should be a valid string``
body over the size limit   413     ``the body is over the limit of 16 MiB``
more rows than queued      413     ``the request holds 25,000 rows, more than ...``
body not whole in time     408     ``the body did not arrive whole within 10 s``
unknown route              404     ``no route POST /nope: see /docs``
no or wrong token          401     ``this server needs Authorization: Bearer <token>``
queue full, shutting down  503     (with ``Retry-After``)
=========================  ======  ==============================================
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from rollscore.env.serve import nemo_gym, openrlhf, score, slime
from rollscore.env.serve.batcher import Batcher
from rollscore.env.serve.errors import (
    DeadlineExceeded,
    InvalidRequest,
    Overloaded,
    ShuttingDown,
    TooManyRows,
)
from rollscore.env.serve.results import AsciiJSONResponse
from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})
"""Routes that answer without the token: readiness probes carry none."""
DEFAULT_MAX_BODY_BYTES = 16 * 2**20
DEFAULT_BODY_TIMEOUT = 10.0
ERRORS_SHOWN = 3
"""Validation errors a 422's message names before it says how many more there are."""


@dataclass(frozen=True)
class ServeSettings:
    """What the app checks and reads beyond the scoring config."""

    token: str | None = None
    """Requests must carry ``Authorization: Bearer <token>`` (None: no check)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ground_truth_field: str = nemo_gym.DEFAULT_GROUND_TRUTH_FIELD
    """The field of a NeMo-Gym verify request that holds the ground truth."""
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    """Seconds a request's body may take to arrive whole once its headers have."""


def create_app(batcher: Batcher, settings: ServeSettings) -> FastAPI:
    """The service's app, scoring through ``batcher`` (started and stopped with the app)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        default_response_class=AsciiJSONResponse,
        title="rollscore serve",
        summary="Rewards for the trainers that call them over HTTP, scored on Dask.",
        lifespan=lifespan,
        **_without_request_telemetry(),
    )
    app.state.batcher = batcher
    app.include_router(nemo_gym.router(settings.ground_truth_field))
    app.include_router(openrlhf.router())
    app.include_router(slime.router())
    app.include_router(score.router())

    @app.get("/health", tags=["rollscore"])
    async def health() -> JSONResponse:
        """Ready: accepting requests, with workers to score on (``503`` otherwise)."""
        if not batcher.accepting:
            return _error(503, "shutting down", retry_after=1)
        workers = len(await asyncio.to_thread(batcher.session.client.nthreads))
        body = {"status": "ok" if workers else "no workers", "workers": workers}
        return AsciiJSONResponse(
            {**body, "queued_rows": batcher.queued_rows}, 200 if workers else 503
        )

    _add_error_handlers(app)
    app.add_middleware(RequestGuard, settings=settings)
    return app


def _without_request_telemetry() -> dict[str, Any]:
    """FastAPI's settings that turn its OpenTelemetry spans, metrics and logs per request off,
    on the FastAPI releases that have them: at hundreds of requests a second, checking for a
    tracer on each one costs the server a noticeable share of a core, and rollscore's own
    figures are in the Dask scheduler's ``/metrics``."""
    if "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {"telemetry": off}


def _error(status: int, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return AsciiJSONResponse({"detail": detail}, status, headers=headers)


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line for pydantic's errors: where and what, for the first few."""
    said = [
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg')}"
        for error in errors[:ERRORS_SHOWN]
    ]
    more = len(errors) - ERRORS_SHOWN
    return "; ".join(said) + (f" (and {more} more)" if more > 0 else "")


def _unparsable(cause: BaseException) -> str:
    """Why json could not read a body that is not a syntax error: a number past Python's
    limit of digits, nesting past its recursion limit, or bytes that are not UTF-8."""
    if isinstance(cause, RecursionError):
        return "nested too deeply to parse"
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return f"a number of over {sys.get_int_max_str_digits():,} digits"
    return str(cause)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if broken is not None:
            reason = (broken.get("ctx") or {}).get("error", "")
            return _error(400, f"the body is not valid JSON: {reason}".rstrip(": "))
        if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
            return _error(400, "the body is empty: send a JSON object")
        return _error(422, validation_message(errors))

    @app.exception_handler(InvalidRequest)
    async def unscorable(request: Request, error: InvalidRequest) -> JSONResponse:
        return _error(422, str(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 404:
            return _error(404, f"no route {request.method} {request.url.path}: see /docs")
        if error.status_code == 400 and error.__cause__ is not None:
            # FastAPI's "There was an error parsing the body", raised from json's own error
            return _error(400, f"the body is not valid JSON: {_unparsable(error.__cause__)}")
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(TooManyRows)
    async def too_many_rows(request: Request, error: TooManyRows) -> JSONResponse:
        return _error(413, str(error))

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, error: Overloaded) -> JSONResponse:
        return _error(503, str(error), retry_after=error.retry_after)

    @app.exception_handler(ShuttingDown)
    @app.exception_handler(DeadlineExceeded)
    async def unavailable(request: Request, error: Exception) -> JSONResponse:
        return _error(503, str(error), retry_after=1)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        return _error(500, f"scoring failed: {type(error).__name__}: {error}")


class BodyTooLarge(Exception):
    """A request's body is over the server's limit (answered ``413``)."""


class RequestGuard:
    """ASGI middleware: the token check, then the body: ``408`` for one not whole within the
    body timeout of its headers (a client stalled mid-body would otherwise hold its
    connection, and a stopping server, for as long as it stays), and the size limit: ``413``
    once a body that said a length over it has arrived (read and dropped, so a client still
    sending it reads the answer, not a reset connection), or as soon as a body of unsaid length
    passes it."""

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app = app
        self.token = None if settings.token is None else settings.token.encode()
        self.max_body_bytes = settings.max_body_bytes
        self.body_timeout = settings.body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.token is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(bearer_token(given), self.token):
                detail = "this server needs the header Authorization: Bearer <token>"
                if given:
                    detail = "the token in the Authorization header is not this server's"
                await _send(send, 401, detail, {b"www-authenticate": b"Bearer"})
                return
        try:
            body = await asyncio.wait_for(self._body(headers, receive), self.body_timeout)
        except BodyTooLarge:
            await self._too_large(send)
            return
        except asyncio.TimeoutError:
            detail = f"the body did not arrive whole within {self.body_timeout:g} s"
            await _send(send, 408, detail, {b"connection": b"close"})
            return
        if body is None:  # the client left
            return
        # every route reads JSON: a body is read as JSON whatever Content-Type it says
        scope = {**scope, "headers": [*_without_content_type(scope["headers"]), JSON_TYPE]}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes | None:
        """The request's body, None if the client left; :class:`BodyTooLarge` for one over the
        limit, once it has arrived if it said its length, else as soon as it passes it."""
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            if await _read_to_end(receive):
                raise BodyTooLarge
            return None
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                raise BodyTooLarge
        return bytes(body)

    async def _too_large(self, send: Send) -> None:
        limit = self.max_body_bytes
        size = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit:,} bytes"
        await _send(send, 413, f"the body is over the limit of {size}", {b"connection": b"close"})


JSON_TYPE = (b"content-type", b"application/json")


def bearer_token(authorization: bytes) -> bytes:
    """The token of an ``Authorization: Bearer <token>`` header, whatever the case of its
    scheme (RFC 7235); empty for another scheme or none."""
    scheme, _, token = authorization.partition(b" ")
    return token.lstrip(b" ") if scheme.lower() == b"bearer" else b""


async def _read_to_end(receive: Receive) -> bool:
    """Read a request's body to its end, keeping none of it; False if the client left."""
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return False
        more = message.get("more_body", False)
    return True


def _without_content_type(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name.lower() != b"content-type"]


async def _send(send: Send, status: int, detail: str, headers: dict[bytes, bytes]) -> None:
    """A JSON ``{"detail": ...}`` answer, straight from the middleware."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers.items(),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
