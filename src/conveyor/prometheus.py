"""The Prometheus HTTP API (``/api/v1/query``), with the standard library: instant queries whose
answer is one number. Every failure (unreachable, refused, a query it rejects, an answer that is
not one) is a one-line UserError (exit 2): a verification that cannot ask never passes."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conveyor.errors import UserError

__all__ = ["Prometheus", "endpoint"]

TIMEOUT_SECONDS = 30


class PrometheusError(UserError):
    """Prometheus could not be asked, or did not answer a number: the verdict is unknown."""


def endpoint(url: str) -> str:
    """``url`` as a Prometheus base URL (http or https, no credentials in it: a token goes in
    PROMETHEUS_TOKEN, never in a URL that would be printed); a bad one is a usage error."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"Prometheus URL {url!r}: expected http(s)://HOST[:PORT][/PATH]")
    if parts.username or parts.password:
        raise UserError(
            "the Prometheus URL carries credentials: put a bearer token in PROMETHEUS_TOKEN instead"
        )
    if parts.query or parts.fragment:
        raise UserError(f"Prometheus URL {url!r}: no query or fragment, only the base URL")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class Prometheus:
    """One Prometheus server; ``token`` (optional) is sent as a bearer token and never shown."""

    url: str
    token: str | None = field(default=None, repr=False)

    def value(self, expression: str, at: datetime) -> float | None:
        """The single number ``expression`` evaluates to at ``at``; None when it has no sample
        (or NaN: a ratio of nothing). More than one series is the query's fault: an error."""
        result = self._query(expression, at)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(
                f"Prometheus answered {len(result)} series to {expression!r}, expected one"
            )
        try:
            number = float(result[0]["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise PrometheusError(f"Prometheus answered no number to {expression!r}") from None
        return None if math.isnan(number) else number

    def _query(self, expression: str, at: datetime) -> list[dict[str, Any]]:
        form = urllib.parse.urlencode({"query": expression, "time": f"{at.timestamp():.3f}"})
        request = urllib.request.Request(  # noqa: S310 - the scheme is http(s), checked above
            f"{self.url}/api/v1/query", data=form.encode(), method="POST"
        )
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if self.token:
            # Unredirected: urllib would carry a plain header on to wherever a redirect points.
            request.add_unredirected_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                text = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as error:
            detail = _error_of(error.read().decode("utf-8", errors="replace"))
            if error.code in (401, 403):
                detail = "check PROMETHEUS_TOKEN"
            raise PrometheusError(
                f"Prometheus at {self.url} answered HTTP {error.code} to {expression!r}: {detail}"
            ) from None
        except (TimeoutError, OSError) as error:  # URLError is an OSError
            reason = getattr(error, "reason", None) or error
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        try:
            answer = json.loads(text)
            data = answer["data"]
            if answer.get("status") != "success" or data.get("resultType") != "vector":
                raise TypeError
            result: list[dict[str, Any]] = list(data["result"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PrometheusError(
                f"{self.url} did not answer as the Prometheus query API does (is it Prometheus?)"
            ) from None
        return result


def _error_of(text: str) -> str:
    """Prometheus' own error message from an error answer, else the start of the body."""
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return " ".join(text.split())[:200] or "no detail"
