"""An ASGI middleware in front of the service: refuse what is not worth parsing, and leave no
server error out of the metrics.

On the guarded paths (POST /forecast):

- a body not declared as JSON (415) or declaring a Content-Length larger than any valid request
  (413) is refused from the headers alone: a 60 MB request of a million rows would otherwise cost
  seconds of CPU to parse and validate, only to be refused;
- a body without a Content-Length (``Transfer-Encoding: chunked``) is counted as it arrives and
  refused with the same 413 once it passes the limit;
- the guard reads the body itself before the app sees it, so a client that disconnects half-way
  is answered here, with 499 ("client closed request", nginx's code; the client never reads it,
  but the access log and ``bentoml_service_request_total`` record it as a 4xx), instead of
  reaching the framework as a 500 with a traceback;
- a client that stops sending (a body shorter than its Content-Length, a chunked body without
  its last chunk, a byte now and then) is answered 408 once ``body_seconds`` have passed since
  the request began. BentoML's traffic timeout, which runs outside every user middleware, would
  otherwise answer it with a 504 that the 5xx alert counts: any client could page on-call. The
  deadline covers the whole body, not the time between two pieces, and also bounds the reading
  of a body already refused (413, 415), so that refusal is still sent in time.

On every path: an exception that escapes the app before a response started is answered here with
a 500 (logged once, with its traceback: it is a bug). BentoML adds user middlewares inside its
metrics middleware, so that 500 is counted in ``bentoml_service_request_total``; left to
Starlette's error handler, which answers outside every middleware, it would not be.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from forecast.service_logs import note_refusal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
DRAIN_LIMIT = 256 * 1024 * 1024  # beyond this the connection is simply closed
CLIENT_CLOSED_REQUEST = 499
REQUEST_TIMEOUT = 408


class _StalledError(Exception):
    """The client did not send its whole body before the deadline."""


logger = logging.getLogger(__name__)


class RequestGuard:
    """Checks POSTs to ``paths``: a JSON content type and a body within ``max_bytes``, declared
    or streamed, within ``body_seconds`` (a number, or a function called once when the server
    builds its app, after BentoML has loaded its configuration); answers 500 itself for an
    exception that escapes the app on any path."""

    def __init__(
        self,
        app: App,
        paths: tuple[str, ...],
        max_bytes: int,
        hint: str = "",
        body_seconds: float | Callable[[], float] = 10.0,
    ) -> None:
        self.app = app
        self.paths = paths
        self.max_bytes = max_bytes
        self.hint = hint  # what the client should do instead, e.g. the row limit
        self.body_seconds = body_seconds() if callable(body_seconds) else body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("method") != "POST" or scope["path"] not in self.paths:
            await _counted_errors(self.app, scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.body_seconds
        try:
            await self._guarded(scope, receive, send, deadline)
        except _StalledError:
            await _refuse(
                send,
                REQUEST_TIMEOUT,
                f"request body not received within {self.body_seconds:g} seconds",
                close=True,  # the rest of the body may still come: not a request to read next
            )

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, deadline: float) -> None:
        """Refuse from the headers, or read the body (before ``deadline``) and run the app."""
        timed = _before(deadline, receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            await _drain_in_time(timed, DRAIN_LIMIT)
            shown = content_type or "none"
            await _refuse(send, 415, f"content-type must be application/json (got {shown})")
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _drain_in_time(timed, DRAIN_LIMIT)
            await self._too_large(send, f"request body of {length} bytes is larger")
            return
        body = await _read_body(timed, self.max_bytes)
        if body is None:  # the client went away before sending all of it
            await _refuse(send, CLIENT_CLOSED_REQUEST, "client closed the request")
            return
        if isinstance(body, int):  # streamed past the limit (and the rest read and dropped)
            await self._too_large(send, "streamed request body is larger")
            return
        # The app gets the untimed receive(): once the body is read, waiting for a disconnect
        # is the app's business, not a stalled client.
        await _counted_errors(self.app, scope, _replay(body, receive), send)

    async def _too_large(self, send: Send, what: str) -> None:
        await _refuse(
            send,
            413,
            f"{what} than the limit of {self.max_bytes} bytes (CONVEYOR_MAX_BODY_BYTES): "
            f"{self.hint or 'send a smaller request'}",
        )


async def _read_body(receive: Receive, limit: int) -> bytes | int | None:
    """The whole body; or, once it passes ``limit``, its size (the rest is read and dropped); or
    None when the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        more = message.get("more_body", False)
        if size > limit:
            if more:  # after the last piece, receive() would wait for a disconnect instead
                await _drain_in_time(receive, DRAIN_LIMIT - size)
            return size
        chunks.append(chunk)
        if not more:
            return b"".join(chunks)


def _before(deadline: float, receive: Receive) -> Receive:
    """A receive() that raises _StalledError once ``deadline`` (the loop's clock) has passed."""

    async def timed() -> Message:
        try:
            async with asyncio.timeout_at(deadline):
                return await receive()
        except TimeoutError:
            raise _StalledError from None

    return timed


async def _drain_in_time(receive: Receive, limit: int) -> None:
    """_drain() of a body already refused: a client that stalls meanwhile gets that refusal
    at the deadline, not a 408 (its reason is known already)."""
    with contextlib.suppress(_StalledError):
        await _drain(receive, limit)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the app the body already read, then whatever the server sends next
    (a disconnect, which the app may wait for)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _counted_errors(app: App, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the app; an exception before the response started becomes a 500 answered from here."""
    started = False

    async def watched(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, watched)
    except Exception:
        if started:  # too late for another status line; the server closes the connection
            raise
        logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
        await _refuse(send, 500, "internal server error (logged)")


async def _drain(receive: Receive, limit: int) -> None:
    """Read and drop the body (up to ``limit`` bytes) so the client, still sending, gets the
    answer instead of a reset connection. Reading costs little; parsing is what is avoided."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _refuse(send: Send, status: int, message: str, close: bool = False) -> None:
    note_refusal(message)  # said on the request's access line (forecast.service_logs)
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
