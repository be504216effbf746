"""Turn a contract into a flat list of rules, each with an id a person can search for.

Rules name a backend-neutral ``check``; a backend (Great Expectations today) maps each check to
its own expectation. Rules come in two phases: structure (columns, types) first, then values for
the columns whose structure is right, so a column of strings is reported as a wrong type and not
as a dozen failed range checks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from conveyor.checks.contract import Column, Contract, Freshness, as_date
from conveyor.checks.pii import HASHED_ID, TEXT_PATTERNS, is_hashed_id_column

__all__ = ["SEVERITY_ORDER", "Rule", "structure_rules", "value_rules"]

Severity = Literal["critical", "error"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "error": 1}


@dataclass(frozen=True)
class Rule:
    """One check of a contract: what is checked, how badly a failure weighs, what was expected."""

    id: str
    severity: Severity
    check: str
    expected: str
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def structure_rules(contract: Contract, columns: list[str]) -> list[Rule]:
    """Table shape, row count, key, column presence and column types."""
    rules = [
        Rule(
            "table.columns",
            "critical",
            "columns_match_set",
            ("exactly" if not contract.allow_extra_columns else "at least")
            + f" the columns {sorted(contract.columns)}",
            params={"columns": sorted(contract.columns), "exact": not contract.allow_extra_columns},
        ),
        Rule(
            "table.rows",
            "critical",
            "row_count",
            _band_text("row count", contract.rows.min, contract.rows.max),
            params={"min": contract.rows.min, "max": contract.rows.max},
        ),
    ]
    for name, column in contract.columns.items():
        if name not in columns:
            rules.append(Rule(f"{name}.exists", "critical", "exists", "column present", name))
            continue
        rules.append(
            Rule(
                f"{name}.type",
                "critical",
                "type",
                f"type {column.type}",
                name,
                {"type": column.type},
            )
        )
    return rules


def value_rules(
    contract: Contract, columns: list[str], all_columns: list[str], text_columns: list[str]
) -> list[Rule]:
    """Nulls, ranges, sets, patterns, key, freshness and distribution of the contract's usable
    ``columns``; the PII guard over every column of the data, in the contract or not."""
    rules: list[Rule] = []
    if contract.key and all(name in columns for name in contract.key):
        rules.append(
            Rule(
                "table.key",
                "critical",
                "unique_key",
                f"unique {tuple(contract.key)}",
                params={"columns": contract.key},
            )
        )
    for name, column in contract.columns.items():
        if name in columns:
            rules.extend(_column_rules(name, column))
    if contract.freshness and contract.freshness.column in columns:
        rules.extend(_freshness_rules(contract.freshness))
    rules.extend(_pii_rules(contract, all_columns, text_columns))
    return rules


def _column_rules(name: str, column: Column) -> list[Rule]:
    rules = []
    if not column.nullable:
        rules.append(Rule(f"{name}.not_null", "critical", "not_null", "no nulls", name))
    if column.min is not None or column.max is not None:
        rules.append(
            Rule(
                f"{name}.range",
                "error",
                "between",
                _band_text("values", column.min, column.max),
                name,
                {"min": column.min, "max": column.max},
            )
        )
    if column.allowed is not None:
        shown = ", ".join(map(str, column.allowed[:12])) + (
            " ..." if len(column.allowed) > 12 else ""
        )
        rules.append(
            Rule(
                f"{name}.allowed",
                "error",
                "in_set",
                f"one of {{{shown}}}",
                name,
                # A date column's ISO text values are dates: compared as days, not as text.
                {
                    "values": [as_date(v) for v in column.allowed]
                    if column.type == "date"
                    else column.allowed
                },
            )
        )
    if column.regex is not None:
        rules.append(
            Rule(
                f"{name}.regex",
                "error",
                "regex",
                f"matching /{column.regex}/",
                name,
                {"regex": column.regex},
            )
        )
    if column.distinct is not None:
        low, high = column.distinct.min, column.distinct.max
        rules.append(
            Rule(
                f"{name}.distinct",
                "error",
                "distinct_count",
                _band_text("distinct values", low, high),
                name,
                {"min": low, "max": high},
            )
        )
    distribution = column.distribution
    if distribution is None:
        return rules
    if distribution.mean is not None:
        band = distribution.mean
        rules.append(
            Rule(
                f"{name}.mean",
                "error",
                "mean",
                _band_text("mean", band.min, band.max),
                name,
                {"min": band.min, "max": band.max},
            )
        )
    if distribution.quantiles:
        # One rule for all quantiles of a column: GX evaluates them as one metric.
        bands = sorted(distribution.quantiles.items())
        rules.append(
            Rule(
                f"{name}.quantiles",
                "error",
                "quantiles",
                "; ".join(_band_text(f"q{q:g}", b.min, b.max) for q, b in bands),
                name,
                {"quantiles": [q for q, _ in bands], "ranges": [[b.min, b.max] for _, b in bands]},
            )
        )
    if distribution.max_zero_share is not None:
        rules.append(
            Rule(
                f"{name}.zero_share",
                "error",
                "zero_share",
                f"share of zeros <= {distribution.max_zero_share:g}",
                name,
                {"max": distribution.max_zero_share},
            )
        )
    return rules


def _freshness_rules(fresh: Freshness) -> list[Rule]:
    reference = fresh.reference()
    oldest_latest = reference - dt.timedelta(days=fresh.max_age_days)
    return [
        Rule(
            f"{fresh.column}.not_future",
            "error",
            "max_at_most",
            f"no date after the reference date {reference}",
            fresh.column,
            {"max": reference},
        ),
        Rule(
            f"{fresh.column}.freshness",
            "error",
            "max_at_least",
            f"latest date on or after {oldest_latest} ({fresh.max_age_days} days before "
            f"{reference})",
            fresh.column,
            {"min": oldest_latest},
        ),
    ]


def _pii_rules(contract: Contract, columns: list[str], text_columns: list[str]) -> list[Rule]:
    rules = []
    id_column = re.compile(contract.pii.hashed_id_columns)
    for name in columns:
        if is_hashed_id_column(name, id_column):
            rules.append(
                Rule(
                    f"pii.hashed_id.{name}",
                    "critical",
                    "regex",
                    "a person's identifier only as a SHA-256 hash (64 hex)",
                    name,
                    {"regex": HASHED_ID},
                )
            )
        elif name in text_columns:
            rules.extend(
                Rule(
                    f"pii.{pattern}.{name}",
                    "critical",
                    "not_regex",
                    f"no value that looks like {pattern.replace('_', ' ')}",
                    name,
                    {"regex": TEXT_PATTERNS[pattern]},
                )
                for pattern in contract.pii.text_patterns
            )
    return rules


def _band_text(what: str, low: object, high: object) -> str:
    low, high = _number(low), _number(high)
    if low is not None and high is not None:
        return f"{what} between {low} and {high}"
    if low is not None:
        return f"{what} >= {low}"
    return f"{what} <= {high}"


def _number(value: object) -> object:
    # YAML bounds arrive as floats: show 5000.0 as 5000.
    return int(value) if isinstance(value, float) and value.is_integer() else value
