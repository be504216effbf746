"""The raw sales schema every data source must provide, and the one place that enforces it."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from conveyor.errors import DataError

SERIES_KEYS = ("club_id", "item_id")
DATE_FORMAT = "%Y-%m-%d"  # how a day is written as text
KEYS = (*SERIES_KEYS, "date")
TARGET = "units_sold"

RAW_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "club_id": pl.String(),
    "item_id": pl.String(),
    "region": pl.String(),
    "category": pl.String(),
    "price": pl.Float64(),
    "promo": pl.Int8(),
    TARGET: pl.Int64(),
}


def conform_raw(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """Select and cast the raw columns, in schema order; name the column that cannot be read.

    Values are only type-checked here. Whether they make sense (ranges, keys, freshness) is the
    job of the data contracts, which run as their own pipeline stage.
    """
    require_raw_columns(frame.schema, origin)
    columns = []
    for name, dtype in RAW_SCHEMA.items():
        column = frame.get_column(name)
        if column.dtype == dtype:
            columns.append(column)
            continue
        try:
            columns.append(_cast(column, dtype))
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
            raise DataError(
                f"{origin}: column {name!r} has type {column.dtype} and cannot be read as "
                f"{dtype} (values that cannot: {_unreadable(column, dtype)})"
            ) from None
    if frame.height == 0:
        raise DataError(f"{origin}: no rows")
    return pl.DataFrame(columns)


def require_raw_columns(schema: Mapping[str, pl.DataType], origin: str) -> None:
    """A DataError naming the raw columns ``schema`` lacks, or a series key held as floats."""
    missing = [name for name in RAW_SCHEMA if name not in schema]
    if missing:
        raise DataError(
            f"{origin}: missing required column(s) {', '.join(missing)}; "
            f"expected columns: {', '.join(RAW_SCHEMA)}"
        )
    for name in SERIES_KEYS:
        # An id as a float has no one text form (polars writes 1e7 as "10000000.0", Spark as
        # "1.0E7"): the two engines would name the same series differently.
        if schema[name].is_float():
            raise DataError(
                f"{origin}: column {name!r} holds floats ({schema[name]}): write ids as text "
                "or integers"
            )


def _unreadable(column: pl.Series, dtype: pl.DataType) -> list[object]:
    """The first values (at most 3) of ``column`` that do not read as ``dtype``: the ones to fix,
    not the first rows, which may be fine."""
    try:
        read = _cast(column, dtype, strict=False)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        return column.head(3).to_list()  # no value of this type reads as ``dtype``
    return column.filter(read.is_null() & column.is_not_null()).head(3).to_list()


def _cast(column: pl.Series, dtype: pl.DataType, strict: bool = True) -> pl.Series:
    if dtype == pl.Date() and column.dtype == pl.String():
        # ISO days only, as the contracts read text dates: a format guessed from the first
        # value ("01/02/2020": which month?) would then call the good ISO dates unreadable.
        return column.str.to_date(DATE_FORMAT, strict=strict)
    if dtype == pl.Int8() and column.dtype == pl.Boolean():
        return column.cast(pl.Int8)
    return column.cast(dtype, strict=strict)
