"""`conveyor check profile`: propose a contract from a trusted data set, for a person to review.

Bands are the observed values widened by a tolerance, so the profiled data passes its own
contract and ordinary variation does too, while a shifted or corrupted data set does not.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd
import yaml

from conveyor.errors import DataError

__all__ = ["propose", "to_yaml"]

MAX_ALLOWED_VALUES = 60  # text columns with at most this many distinct values get an allowed set
MAX_CODES = 10  # integer columns with at most this many distinct values are codes (flags, days)
QUANTILES = (0.5, 0.9)


def propose(
    frame: pd.DataFrame,
    name: str,
    key: list[str],
    tolerance: float = 0.25,
    max_age_days: int = 7,
) -> dict[str, Any]:
    """A contract (as plain data) that ``frame`` satisfies."""
    if frame.empty:
        raise DataError(f"cannot profile an empty data set ({name})")
    columns = {str(column): _column(frame[column], tolerance) for column in frame.columns}
    contract: dict[str, Any] = {
        "name": name,
        "description": f"Proposed by `conveyor check profile` from {len(frame):,} rows: review it.",
        "key": key,
        "rows": {"min": max(1, math.floor(len(frame) * 0.5)), "max": math.ceil(len(frame) * 2)},
        "allow_extra_columns": False,
    }
    dates = [c for c, spec in columns.items() if spec["type"] == "date"]
    if dates:
        latest = frame[dates[0]].max()
        contract["freshness"] = {
            "column": dates[0],
            "max_age_days": max_age_days,
            "reference_date": pd.Timestamp(latest).date().isoformat(),
        }
    contract["columns"] = columns
    return contract


def to_yaml(contract: dict[str, Any]) -> str:
    """The contract as YAML, with a header saying where it came from and what to review."""
    header = (
        f"# Data contract `{contract['name']}`, proposed by `conveyor check profile`.\n"
        "# Review every band before committing: they are what this data looked like, widened by a\n"
        "# tolerance, not what it must look like. Changes to this file need a CODEOWNERS review.\n"
    )
    return header + yaml.dump(
        contract, Dumper=_ContractDumper, sort_keys=False, allow_unicode=True, width=100
    )


class _ContractDumper(yaml.SafeDumper):
    """Lists of plain values on one line (``allowed: [a, b, c]``): shorter, easier to review."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_ContractDumper.add_representer(list, _represent_list)


def _column(series: pd.Series, tolerance: float) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": _type(series)}
    if series.isna().any():
        spec["nullable"] = True
    values = series.dropna()
    if values.empty:
        return spec
    if spec["type"] == "string":
        distinct = values.unique()
        if len(distinct) <= MAX_ALLOWED_VALUES:
            spec["allowed"] = sorted(str(v) for v in distinct)
        pattern = _shared_shape(values)
        if pattern:
            spec["regex"] = pattern
    elif spec["type"] == "integer" and values.nunique() <= MAX_CODES:
        # Codes (a 0/1 flag, a weekday): the set of values, and how often they occur on average.
        codes = sorted(int(v) for v in values.unique())
        spec.update(min=codes[0], max=codes[-1], allowed=codes)
        spec["distribution"] = {"mean": _band(float(values.mean()), tolerance)}
    elif spec["type"] in ("integer", "float"):
        spec.update(_range(values, spec["type"]))
        spec["distribution"] = _distribution(values.astype(float), tolerance)
    return spec


def _type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    return "string"


def _range(values: pd.Series, kind: str) -> dict[str, float]:
    low, high = float(values.min()), float(values.max())
    span = max(high - low, abs(high), 1.0)
    # Non-negative data keeps 0 as its floor: a negative count or price is always an error.
    floor = 0.0 if low >= 0 else low - 0.5 * span
    ceiling = high + 0.5 * span
    if kind == "integer":
        return {"min": math.floor(floor), "max": math.ceil(ceiling)}
    return {"min": _round(floor), "max": _round(ceiling)}


def _distribution(values: pd.Series, tolerance: float) -> dict[str, Any]:
    distribution: dict[str, Any] = {"mean": _band(float(values.mean()), tolerance)}
    distribution["quantiles"] = {q: _band(float(values.quantile(q)), tolerance) for q in QUANTILES}
    zero_share = float((values == 0).mean())
    if zero_share > 0:
        distribution["max_zero_share"] = _round(min(1.0, zero_share * (1 + tolerance) + 0.01))
    return distribution


def _band(value: float, tolerance: float) -> dict[str, float]:
    margin = tolerance * abs(value) + 1e-6
    return {"min": _round(value - margin, down=True), "max": _round(value + margin)}


def _round(value: float, down: bool = False) -> float:
    """Four significant digits, rounded outward so the band never shrinks."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    digits = 3 - math.floor(math.log10(abs(value)))
    scale = 10.0**digits
    return (math.floor if down else math.ceil)(value * scale) / scale


_SHAPE_CLASSES = ((r"[a-z]", "a"), (r"[A-Z]", "A"), (r"[0-9]", "9"))


def _shared_shape(values: pd.Series) -> str | None:
    """A regex every value matches, when all values share one shape (e.g. ``^club_\\d{3}$``)."""
    sample = values.astype(str).drop_duplicates().head(10_000)
    shapes = {_shape(v) for v in sample}
    if len(shapes) != 1:
        return None
    return "^" + "".join(_token(char, count) for char, count in next(iter(shapes))) + "$"


def _shape(value: str) -> tuple[tuple[str, int], ...]:
    runs: list[list[Any]] = []
    for char in value:
        kind = next(
            (label for pattern, label in _SHAPE_CLASSES if re.fullmatch(pattern, char)), char
        )
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    return tuple((kind, count) for kind, count in runs)


def _token(kind: str, count: int) -> str:
    base = {"a": "[a-z]", "A": "[A-Z]", "9": r"\d"}.get(kind, re.escape(kind))
    return base if count == 1 else f"{base}{{{count}}}"
