"""An ASGI middleware in front of the forecast endpoint: refuse what is not worth parsing.

A body larger than any valid request (413) and a body that is not declared as JSON (415) are
refused from the headers alone, before a byte of the body is read: a 60 MB request of a million
rows would otherwise cost seconds of CPU to parse and validate, only to be refused.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
DRAIN_LIMIT = 256 * 1024 * 1024  # beyond this the connection is simply closed


class RequestGuard:
    """Checks POSTs to ``paths``: a JSON content type and a Content-Length within ``max_bytes``."""

    def __init__(self, app: App, paths: tuple[str, ...], max_bytes: int, hint: str = "") -> None:
        self.app = app
        self.paths = paths
        self.max_bytes = max_bytes
        self.hint = hint  # what the client should do instead, e.g. the row limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope["path"] not in self.paths
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            await _drain(receive, DRAIN_LIMIT)
            shown = content_type or "none"
            await _refuse(send, 415, f"content-type must be application/json (got {shown})")
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _drain(receive, DRAIN_LIMIT)
            await _refuse(
                send,
                413,
                f"request body of {length} bytes is larger than the limit of {self.max_bytes} "
                f"bytes (CONVEYOR_MAX_BODY_BYTES): {self.hint or 'send a smaller request'}",
            )
            return
        # Without a Content-Length (chunked), count as the body arrives.
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLargeError
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLargeError:
            await _refuse(
                send, 413, f"request body larger than {self.max_bytes} bytes: {self.hint}"
            )


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


class BodyTooLargeError(Exception):
    """A chunked body grew past the limit."""


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
