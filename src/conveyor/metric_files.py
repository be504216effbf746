"""Metrics files: small JSON documents kept in git, flattened (gate reads them at a git ref too)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeGuard

from conveyor.errors import DataError
from conveyor.files import read_text

__all__ = ["Flat", "is_number", "parse", "read_current"]

Flat = dict[str, float | None]


def flatten(document: Any, prefix: str = "") -> Flat:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1.0}``; numbers only (booleans and strings are skipped)."""
    flat: Flat = {}
    if isinstance(document, dict):
        for key, value in document.items():
            flat.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(document, int | float) and not isinstance(document, bool):
        flat[prefix.rstrip(".")] = float(document)
    elif document is None and prefix:
        flat[prefix.rstrip(".")] = None  # JSON null: a metric that could not be computed
    return flat


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
