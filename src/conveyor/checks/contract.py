"""The data-contract file format: one YAML file per data set, validated before any check runs."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PlainValidator, field_validator, model_validator

from conveyor.checks.pii import HASHED_ID_COLUMNS, TEXT_PATTERNS
from conveyor.config import Count, Number, Strict, load_model

__all__ = [
    "NAME_PATTERN",
    "Column",
    "Contract",
    "Distinct",
    "Freshness",
    "as_date",
    "load_contract",
]

# A contract name: it becomes a file name and part of verdict names (`conveyor check profile
# --name` is held to it too).
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"

ColumnType = Literal["string", "integer", "float", "date", "boolean"]


def _bound(value: object) -> float | dt.date:
    """A column's min or max: a finite number, or a date (YAML date or ISO text)."""
    if isinstance(value, dt.datetime):
        # A date column holds days: comparing a day with a time of day has no answer (and
        # raised a TypeError against a date bound).
        raise ValueError("expected a finite number or a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("expected a finite number or a date")
        return float(value)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected a finite number or a date")


# One validator rather than a union, so a bad bound gets one plain message, not one per branch.
Bound = Annotated[float | dt.date, PlainValidator(_bound)]


def _allowed_value(value: object) -> str | int | float | bool | dt.date:
    """One value of `allowed`: text, a number, true/false or a date (YAML's unquoted
    2024-01-05); whether it fits the column's type is the column's check."""
    if isinstance(value, dt.datetime):
        raise ValueError("expected text, a number, true/false or a date, not a date and time")
    if isinstance(value, str | int | float | bool | dt.date):
        return value
    raise ValueError("expected text, a number, true/false or a date")


AllowedValue = Annotated[str | int | float | bool | dt.date, PlainValidator(_allowed_value)]

# The rules that only make sense on some column types: refused at load, before any data is read,
# rather than a backend error or a check that can never pass.
NUMERIC = ("integer", "float")


class Band(Strict):
    """A closed interval [min, max]; either end may be open (null)."""

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Distinct(Strict):
    """Bounds on how many distinct values a column holds (e.g. every day of a horizon, every
    club): whole numbers, at least one end given."""

    min: Count | None = Field(None, ge=1)
    max: Count | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _given_and_ordered(self) -> Distinct:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Rows(Strict):
    """Bounds on the row count: whole numbers; either end may be open (null)."""

    min: Count | None = 1  # at least 1 (Contract says why)
    max: Count | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Rows:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Distribution(Strict):
    """Bands for a column's statistics, usually learned from trusted data (`check profile`)."""

    mean: Band | None = None
    quantiles: dict[Number, Band] = Field(default_factory=dict)
    max_zero_share: Number | None = Field(None, ge=0, le=1)

    @field_validator("quantiles")
    @classmethod
    def _quantiles_in_range(cls, value: dict[Number, Band]) -> dict[Number, Band]:
        bad = [q for q in value if not 0 <= q <= 1]
        if bad:
            raise ValueError(f"quantiles must be between 0 and 1, got {bad}")
        return value


# What a bound of each column type must be (``_bound`` gives numbers as floats): a date bound on
# a number column, or the reverse, would load and then fail every row as bad data (exit 1).
BOUND_KINDS: dict[str, tuple[type, str]] = {
    "integer": (float, "a number"),
    "float": (float, "a number"),
    "date": (dt.date, "a date"),
}


def _fits(value: object, column_type: str) -> bool:
    """Whether ``value`` may be in the allowed set of a ``column_type`` column: `allowed: [1, 2]`
    on a string column never matches "1", for the same reason as a bound of the wrong kind."""
    if isinstance(value, bool):  # a bool is an int to Python: told apart first
        return column_type == "boolean"
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int),
        "float": isinstance(value, int | float),
        "date": isinstance(value, dt.date),  # ISO text: as_date
    }.get(column_type, False)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dt.date):
        return "a date"
    return "a number" if isinstance(value, int | float) else "text"


class Column(Strict):
    """What one column must hold."""

    type: ColumnType
    nullable: bool = False
    min: Bound | None = None
    max: Bound | None = None
    allowed: list[AllowedValue] | None = None
    regex: str | None = None
    distinct: Distinct | None = None
    distribution: Distribution | None = None

    @model_validator(mode="after")
    def _bounds_fit_the_type(self) -> Column:
        """A bound or an allowed value the column's type can never hold is a contract error
        (exit 2), not a data failure: the data is not at fault."""
        wanted = BOUND_KINDS.get(self.type)
        for end in ("min", "max"):
            bound = getattr(self, end)
            if bound is None:
                continue
            if wanted is None:
                raise ValueError(f"{end} {bound}: a {self.type} column has no min/max")
            if not isinstance(bound, wanted[0]):
                raise ValueError(
                    f"{end} {bound} is {_kind(bound)}, but the column is {self.type}: "
                    f"its bounds must be {wanted[1]}"
                )
        if self.min is not None and self.max is not None and self.min > self.max:  # type: ignore[operator]
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        for value in self.allowed or []:
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"allowed: {value} is not a finite number (a missing value is `nullable`)"
                )
            if self.type == "date" and isinstance(value, str):
                as_date(value)  # ISO text is a date; anything else is refused in its words
            elif not _fits(value, self.type):
                raise ValueError(
                    f"allowed value {value!r} is {_kind(value)}, but the column is {self.type}"
                    + (" (quote it to make it text)" if self.type == "string" else "")
                )
        return self

    @model_validator(mode="after")
    def _rules_fit_the_type(self) -> Column:
        """A pattern only on text, statistics only on numbers; a pattern must compile."""
        if self.regex is not None:
            if self.type != "string":
                raise ValueError(f"regex: {_a(self.type)} column has no text to match")
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} is not a valid pattern ({exc})") from None
        if self.distribution is not None and self.type not in NUMERIC:
            used = self.distribution.model_dump(exclude_defaults=True)
            raise ValueError(
                f"distribution ({', '.join(used) or 'empty'}): {_a(self.type)} column has no "
                "mean, quantiles or zeros; distribution is for integer and float columns"
            )
        return self


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def as_date(value: str | int | float | bool | dt.date) -> str | int | float | bool | dt.date:
    """An allowed value of a date column as a date: ISO text (quoted) is read as one, so the
    rule compares days, never text that no date value equals."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"allowed value {value!r} is not a date (YYYY-MM-DD), but the column is date"
            ) from None
    return value


class Freshness(Strict):
    """The latest date lies at most ``max_age_days`` before the reference date, never after it."""

    column: str
    max_age_days: Count = Field(ge=0)
    # A fixed date for historical data sets; "today" (UTC) for live ones.
    reference_date: dt.date | Literal["today"] = "today"

    def reference(self) -> dt.date:
        """The reference date as a date."""
        if self.reference_date == "today":
            return dt.datetime.now(dt.UTC).date()
        return self.reference_date


class Pii(Strict):
    """The PII guard: no personal data in text, and identifiers of people only as hashes."""

    text_patterns: list[str] = Field(default_factory=lambda: list(TEXT_PATTERNS))
    # Columns whose name matches this regex identify people: values must be SHA-256 hex. It is
    # matched against the name as written and as lowercase snake_case words (pii.column_words).
    hashed_id_columns: str = HASHED_ID_COLUMNS

    @field_validator("text_patterns")
    @classmethod
    def _known_patterns(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(TEXT_PATTERNS))
        if unknown:
            raise ValueError(f"unknown pattern(s) {unknown}; known: {sorted(TEXT_PATTERNS)}")
        return value


class Contract(Strict):
    """A data contract: columns, table-level rules and the PII guard."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    key: list[str] = Field(default_factory=list)
    rows: Rows = Rows()
    allow_extra_columns: bool = False
    freshness: Freshness | None = None
    columns: dict[str, Column] = Field(min_length=1)
    pii: Pii = Pii()

    @model_validator(mode="after")
    def _references_exist(self) -> Contract:
        unknown = [name for name in self.key if name not in self.columns]
        if unknown:
            raise ValueError(f"key names column(s) {unknown} that are not under columns")
        if self.freshness and self.freshness.column not in self.columns:
            raise ValueError(f"freshness.column {self.freshness.column!r} is not under columns")
        if self.freshness and self.columns[self.freshness.column].type != "date":
            kind = self.columns[self.freshness.column].type
            raise ValueError(
                f"freshness.column {self.freshness.column!r} is {_a(kind)} column: "
                "freshness needs a date column"
            )
        if self.rows.min is not None and self.rows.min < 1:
            raise ValueError("rows.min must be at least 1: an empty data set never passes")
        return self


def load_contract(path: Path) -> Contract:
    """Read and validate a contract file; a malformed one raises ConfigError naming line and key."""
    return load_model(path, Contract)
