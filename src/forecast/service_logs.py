"""What the service writes to its log: one line per refused request, one line for a model it
cannot serve, and tracebacks only for real server errors.

BentoML logs every exception of an API call, a 400 included, at ERROR level with its traceback
(``log_exception`` in ``bentoml._internal.server.http_app``). A client's bad request is not a
server error: a filter on that logger turns those records into one INFO line naming the request
and the first problem (never the input values, which may carry anything a client sent).
"""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

# The logger BentoML's log_exception() writes to (BentoML 1.4).
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"
UNAVAILABLE_PREFIX = "model unavailable: "
MAX_REASON = 400  # characters of a reason kept on its line


class RefusedRequestFilter(logging.Filter):
    """Rewrites BentoML's traceback for a client error (4xx) into one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record; shorten the ones about a refused request."""
        error = record.exc_info[1] if record.exc_info else None
        summary = refusal_summary(error)
        if summary is None:
            return True
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
    """Install the filter on BentoML's HTTP logger, once per process."""
    target = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, RefusedRequestFilter) for f in target.filters):
        target.addFilter(RefusedRequestFilter())


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
