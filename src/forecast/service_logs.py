"""What the service writes to its log: one line per request, one line for a model it cannot
serve, and tracebacks only for real server errors.

The one line of a request is BentoML's access line (``bentoml.access``: method, path, status,
sizes, latency). A refused request says why on that same line, after ``refused:``; the status
stays where every access line has it (``status=400``), so one grep finds both.

BentoML logs every exception of an API call, a 400 included, at ERROR level with its traceback
(``log_exception`` in ``bentoml._internal.server.http_app``). A client's bad request is not a
server error: a filter on that logger keeps only the first problem (never the input values,
which may carry anything a client sent) for the access line and drops the record. The reason
travels from the handler to the access line in a per-request holder (`RequestReasons`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from pydantic import ValidationError

# The logger BentoML's log_exception() writes to (BentoML 1.4).
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"
BENTOML_ACCESS_LOGGER = "bentoml.access"
UNAVAILABLE_PREFIX = "model unavailable: "
REFUSED = "refused: "  # what precedes the reason on a refused request's access line
MAX_REASON = 400  # characters of a reason kept on its line

# The reason the current request was refused, once known. A mutable holder set before the app
# runs: the handler may run in a copy of this context (a child task), and what it writes must
# still be seen by the access line, which is logged when the response is sent.
_REASON: ContextVar[dict[str, str] | None] = ContextVar("forecast_refusal", default=None)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestReasons:
    """ASGI middleware (outside every refusing one) holding the reason of a refused request
    until BentoML's access line for it is written."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _REASON.set({})
        try:
            await self.app(scope, receive, send)
        finally:
            _REASON.reset(token)


def note_refusal(reason: str) -> bool:
    """Put ``reason`` on the current request's access line; False outside a request."""
    holder = _REASON.get()
    if holder is None:
        return False
    holder["reason"] = one_line(reason)
    return True


class AccessReasonFilter(logging.Filter):
    """Appends ``refused: <reason>`` to the access line of a refused request."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record; complete the one of a refused request."""
        holder = _REASON.get()
        reason = holder.pop("reason", None) if holder else None
        if reason is not None and isinstance(record.args, tuple):
            record.msg = f"{record.msg} {REFUSED}%s"
            record.args = (*record.args, reason)
        return True


class RefusedRequestFilter(logging.Filter):
    """Turns BentoML's traceback for a client error (4xx) into the reason on the request's
    access line (outside a request: one INFO line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the record of a refused request, its reason kept for the access line."""
        error = record.exc_info[1] if record.exc_info else None
        summary = refusal_summary(error)
        if summary is None:
            return True
        if note_refusal(summary.split(" ", 1)[1]):  # the status is on the access line already
            return False
        path, method = record.args if isinstance(record.args, tuple) else ("?", "?")
        record.msg = "refused %s %s: %s"
        record.args = (method, path, summary)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def refusal_summary(error: BaseException | None) -> str | None:
    """One line for a client error (a request refused with a 4xx); None for anything else."""
    if isinstance(error, ValidationError):
        problems = error.errors(include_input=False, include_context=False, include_url=False)
        first = problems[0] if problems else {"loc": (), "msg": str(error), "type": "?"}
        where = ".".join(str(part) for part in first["loc"]) or "body"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return one_line(f"400 {where}: {first['msg']} [{first['type']}]{more}")
    from bentoml.exceptions import BentoMLException

    if isinstance(error, BentoMLException) and int(error.error_code) < 500:
        return one_line(f"{int(error.error_code)} {error}")
    return None


def one_line(text: str) -> str:
    """``text`` with its whitespace collapsed, cut to MAX_REASON characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REASON else flat[: MAX_REASON - 3] + "..."


def quiet_refusals() -> None:
    """Install the filters on BentoML's HTTP and access loggers, once per process."""
    for name, kind in (
        (BENTOML_HTTP_LOGGER, RefusedRequestFilter),
        (BENTOML_ACCESS_LOGGER, AccessReasonFilter),
    ):
        target = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in target.filters):
            target.addFilter(kind())


def quiet_lightgbm() -> None:
    """Keep LightGBM's native messages out of the log: they go to its dummy logger, which prints
    them (a failed load prints ``[LightGBM] [Fatal] ...`` per worker, repeating the error it then
    raises, which the service reports once)."""
    import lightgbm as lgb

    native = logging.getLogger("lightgbm")
    native.setLevel(logging.WARNING)  # LightGBM sends every native message to .info()
    lgb.register_logger(native)


def report_unavailable(reason: str) -> None:
    """Write the one line saying why the model cannot be served.

    The line starts with ``model unavailable:`` itself (no timestamp or level before it), so an
    operator's grep, and the image test, find it the same way in any log collector.
    """
    line = logging.getLogger("forecast.model_unavailable")
    if not line.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        line.addHandler(handler)
        line.propagate = False  # BentoML's handlers would print it a second time
        line.setLevel(logging.ERROR)
    line.error("%s%s", UNAVAILABLE_PREFIX, one_line(reason))
