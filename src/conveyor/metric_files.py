"""Metrics files: small JSON documents kept in git, flattened (gate reads them at a git ref too)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeGuard

from conveyor.errors import DataError
from conveyor.files import read_text

__all__ = [
    "Flat",
    "flatten",
    "is_number",
    "parse",
    "read_current",
]


class Flat(dict[str, float | None]):
    """Flattened metrics: key -> number (None: JSON null, a metric that could not be computed).
    ``not_numbers``: the leaves holding another JSON value (a string such as "0.4", a boolean, a
    list), key -> what it is. Metrics files carry such fields (a date, a name): they are no
    metric, but a rule that names one fails saying so, never as a missing metric."""

    def __init__(self) -> None:
        super().__init__()
        self.not_numbers: dict[str, str] = {}


def flatten(document: Any, prefix: str = "") -> Flat:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1.0}``; numbers only (other leaves: ``not_numbers``)."""
    flat = Flat()
    _walk(document, prefix, flat)
    return flat


def _walk(value: Any, prefix: str, flat: Flat) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{prefix}{key}.", flat)
        return
    key = prefix.rstrip(".")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            flat[key] = float(value)
        except OverflowError:  # an integer beyond a float's range: no finite number
            flat[key] = math.inf if value > 0 else -math.inf
    elif not prefix:
        return  # a document that is no object holds no named metric
    elif value is None:
        flat[key] = None
    else:
        flat.not_numbers[key] = _shown(value)


def _shown(value: Any) -> str:
    """A non-number JSON value, in words, for a gate's reason (short: a value may be long)."""
    if isinstance(value, str):
        text = json.dumps(value[:40] + ("..." if len(value) > 40 else ""))
        return f"the string {text}"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def parse(text: str, origin: str) -> Flat:
    """Flattened metrics of one JSON document; invalid JSON is a DataError naming ``origin``."""
    try:
        return flatten(json.loads(text))
    except json.JSONDecodeError as exc:
        raise DataError(f"{origin}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def read_current(path: Path) -> Flat | None:
    """Metrics of a file in the working tree, or None when the file does not exist."""
    if not path.is_file():
        return None
    return parse(read_text(path, "metrics file", error=DataError), str(path))


def is_number(value: float | None) -> TypeGuard[float]:
    """True for a finite number (not None, NaN or infinite)."""
    return value is not None and math.isfinite(value)
