"""A bounded ``endpoint`` label on BentoML's request metrics (``bentoml_service_request_total``,
``..._request_duration_seconds``, ``..._request_in_progress``).

BentoML labels them with the raw request path, so every client choosing a new path (``/x1``,
``/x2``, ...) adds series to the service's memory and to Prometheus without bound. A service calls
``bound_endpoint_labels()`` once, at import: the label is then the path only for the service's own
API routes and probes, and ``other`` for anything else. Only the label changes: the request is
routed, answered and logged on its real path.

BentoML adds its metrics middleware first (outermost), before any middleware a service adds, so
no middleware of ours can see the request before it is labelled: the middleware class BentoML
looks up when it builds the app is replaced by a subclass, before the app is built.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["OTHER", "PROBES", "bound_endpoint_labels", "endpoint_label"]

OTHER: Final = "other"
# BentoML's own probes and metrics: known paths a scraper and the kubelet call all the time.
PROBES: Final = ("/livez", "/readyz", "/healthz", "/metrics")


def endpoint_label(path: str, known: Iterable[str]) -> str:
    """``path`` when it is one of ``known`` (exactly), else ``other``."""
    return path if path in set(known) else OTHER


def _service_routes() -> list[str]:
    """The service's API routes, as the BentoML worker lists them before it builds the app."""
    from bentoml._internal.context import server_context

    return list(server_context.service_routes)


def bound_endpoint_labels(extra: Iterable[str] = ()) -> None:
    """Label BentoML's request metrics by the service's API routes, the probes and ``extra``
    paths only; any other path is ``other``. Idempotent; call it where the service is defined."""
    from bentoml._internal.server.http import instruments

    base = instruments.RunnerTrafficMetricsMiddleware
    if getattr(base, "bounded_endpoints", False):
        return
    fixed = (*PROBES, *extra)

    class BoundedTrafficMetrics(base):  # type: ignore[misc, valid-type]
        """BentoML's metrics middleware, fed a scope whose path is the bounded label."""

        bounded_endpoints = True

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            path = scope.get("path") if isinstance(scope, dict) else None
            label = (
                path
                if path is None or not scope["type"].startswith(("http", "websocket"))
                else endpoint_label(path, (*_service_routes(), *fixed))
            )
            if label == path:
                await super().__call__(scope, receive, send)
                return
            if not self._is_setup:
                self._setup()  # the metrics are made once, on this instance, not on the copy
            # The metrics middleware reads the label from the scope it is given, and hands that
            # scope on: this request's copy of it hands the real one to the app instead.
            inner, real = self.app, scope
            labelled = copy.copy(self)

            async def app(_scope: Any, receive_: Any, send_: Any) -> None:
                await inner(real, receive_, send_)

            labelled.app = app
            await base.__call__(labelled, {**scope, "path": label}, receive, send)

    instruments.RunnerTrafficMetricsMiddleware = BoundedTrafficMetrics  # type: ignore[misc]
