"""The `prepare` stage: time-ordered features for a global demand model, computed without leakage.

A row dated t is forecast ``horizon_days`` ahead of the last known sales, so every feature made
from sales uses only days <= t - horizon_days (lags and rolling windows are shifted by at least the
horizon). Price, promotion and the calendar are known in advance and are used as of day t.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from conveyor.checks.dataio import mixed_schema
from conveyor.delta_table import delta_snapshot, is_delta_table
from conveyor.errors import DataError
from conveyor.files import atomic_path
from conveyor.stored_data import parquet_files
from forecast.calendar import holiday_dates
from forecast.params import FeatureParams
from forecast.schema import KEYS, SERIES_KEYS, TARGET, conform_raw, require_raw_columns

if TYPE_CHECKING:
    from conveyor.compute.params import ComputeParams

CATEGORICAL = ("club_id", "item_id", "region", "category")
HOLIDAY_HORIZON = 14  # days-to/since-holiday are clipped here: further away carries no signal
PRICE_MEMORY = 56  # days of past prices that define an item's regular price


def feature_columns(params: FeatureParams) -> list[str]:
    """The model's input columns, in a fixed order."""
    return [
        *CATEGORICAL,
        "day_of_week",
        "day_of_month",
        "day_of_year",
        "month",
        "is_holiday",
        "days_to_holiday",
        "days_since_holiday",
        "price",
        "price_ratio",
        "promo",
        *(f"lag_{lag}" for lag in params.lags),
        *(f"rolling_mean_{w}" for w in params.rolling_windows),
        *(f"rolling_std_{w}" for w in params.rolling_windows),
    ]


def build_features(raw: pl.DataFrame, params: FeatureParams, country: str) -> pl.DataFrame:
    """Keys, target and feature columns for every observed (club, item, date) with history.

    A series' rows do not depend on the other series: built apart (Spark builds a few series at
    a time), they are the rows of the whole build."""
    sales = _complete_calendar(with_series_id(raw if sorted_by_keys(raw) else raw.sort(KEYS)))
    series = "_series"
    shifted = pl.col(TARGET).cast(pl.Float64).shift(params.horizon_days)
    history = [
        *(
            pl.col(TARGET).cast(pl.Float64).shift(lag).over(series).alias(f"lag_{lag}")
            for lag in params.lags
        ),
        *(
            shifted.rolling_mean(w, min_samples=1).over(series).alias(f"rolling_mean_{w}")
            for w in params.rolling_windows
        ),
        *(
            shifted.rolling_std(w, min_samples=2).over(series).alias(f"rolling_std_{w}")
            for w in params.rolling_windows
        ),
        (
            pl.col("price")
            / pl.col("price").shift(1).rolling_max(PRICE_MEMORY, min_samples=1).over(series)
        ).alias("price_ratio"),
    ]
    date = pl.col("date")
    calendar = [
        date.dt.weekday().alias("day_of_week"),  # 1 = Monday
        date.dt.day().alias("day_of_month"),
        date.dt.ordinal_day().alias("day_of_year"),
        date.dt.month().alias("month"),
    ]
    features = (
        sales.with_columns(*history, *calendar)
        .join(holiday_features(sales, country), on="date", how="left")
        # Rows added to fill gaps are not observations; rows before the first lag have no history.
        .filter(
            pl.col("_observed")
            & (date >= date.min().over(series) + pl.duration(days=min(params.lags)))
        )
    )
    return features.select(*KEYS, TARGET, *(c for c in feature_columns(params) if c not in KEYS))


def scan_data(path: Path) -> pl.LazyFrame:
    """The Parquet file, folder or Delta table at ``path`` (its files: parquet_files), lazily:
    a Delta table in its log's schema, a column a later version added null in older files."""
    return scan_files(parquet_files(path), delta_schema(path))


def delta_schema(path: Path) -> pl.Schema | None:
    """The schema in the log of the Delta table at ``path``; None for Parquet files."""
    if not is_delta_table(path):
        return None
    return pl.DataFrame(delta_snapshot(path).schema.empty_table()).schema


def scan_files(files: Sequence[Path], schema: pl.Schema | None) -> pl.LazyFrame:
    """Parquet ``files`` lazily; with a Delta table's ``schema`` (delta_schema), a column a
    later version added reads as nulls in older files."""
    if schema is None:
        return pl.scan_parquet(list(files))
    return pl.scan_parquet(list(files), schema=schema, missing_columns="insert")


@contextmanager
def parquet_read_errors(origin: str) -> Iterator[None]:
    """A Parquet file polars cannot read past its footer (a corrupt data page, a truncated
    column) as one line naming ``origin`` (exit 2), not polars' traceback."""
    try:
        yield
    except (pl.exceptions.ComputeError, OSError) as exc:
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{origin}: cannot read: {message}") from None


def require_feature_table(columns: Sequence[str], needed: Iterable[str], origin: str) -> None:
    """A DataError naming what ``columns`` lacks of ``needed``: a file that is not the feature
    table `prepare` writes (the raw sales, say), as one line rather than a reader's traceback."""
    missing = [name for name in dict.fromkeys(needed) if name not in columns]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(
            f"{origin}: not a feature table: no column {', '.join(missing[:5])}{more} "
            "(python -m forecast prepare writes one)"
        )


def typed_sales(frame: pl.DataFrame, origin: str, once: bool = True) -> pl.DataFrame:
    """Raw sales typed as ingest types them (conform_raw), each with its club, item and day, once:
    a sale without them belongs to no day of a series, and a day sold twice has no one value
    (the raw_sales contract's not_null and unique key rules). Refused alike on either engine:
    a missing key or a repeated one would otherwise be built differently by each. Without
    ``once``, a repeated key is left for the caller to find (Spark's workers, in key order)."""
    raw = conform_raw(frame, origin)
    if raw.get_column("date").null_count():
        raise DataError(f"{origin}: column 'date' has missing values: every sale needs its day")
    for key in SERIES_KEYS:
        if raw.get_column(key).null_count():
            raise DataError(
                f"{origin}: column {key!r} has missing values: every sale needs its club and item"
            )
    if once and not sorted_by_keys(raw):  # rows in strict key order repeat no key: one pass
        repeated = raw.select(KEYS).filter(pl.struct(KEYS).is_duplicated())
        if repeated.height:
            first = repeated.sort(KEYS).row(0)
            raise DataError(
                f"{origin}: a club, item and day sold in more than one row, e.g. "
                f"{', '.join(map(str, first))}: each day of a series is one row"
            )
    return raw


def sorted_by_keys(frame: pl.DataFrame) -> bool:
    """True when rows are already in (club, item, date) order, as ingest writes them.

    Checking costs one pass; sorting 10M rows by two string keys costs several seconds.
    """
    if frame.height < 2:
        return True
    ordered = pl.lit(False)
    for key in reversed(KEYS):  # lexicographic: earlier keys decide, later ones break ties
        previous = pl.col(key).shift(1)
        ordered = (pl.col(key) > previous) | ((pl.col(key) == previous) & ordered)
    return bool(frame.select(ordered.slice(1).all()).item())


def with_series_id(sales: pl.DataFrame) -> pl.DataFrame:
    """Number the series of key-sorted rows: windows over one integer beat windows over two
    strings by far at millions of rows."""
    first_of_series = pl.any_horizontal(pl.col(k) != pl.col(k).shift(1) for k in SERIES_KEYS)
    return sales.with_columns(first_of_series.fill_null(True).cum_sum().alias("_series"))


def _complete_calendar(sales: pl.DataFrame) -> pl.DataFrame:
    """Insert missing days of each series (as nulls), so a shift by n rows is a shift by n days."""
    sales = sales.with_columns(pl.lit(True).alias("_observed"))
    span = sales.group_by("_series").agg(
        pl.len().alias("rows"), (pl.col("date").max() - pl.col("date").min()).dt.total_days()
    )
    if (span["rows"] == span["date"] + 1).all():
        return sales
    filled = sales.upsample("date", every="1d", group_by=list(SERIES_KEYS), maintain_order=True)
    return with_series_id(
        filled.drop("_series").with_columns(
            pl.col("region", "category").forward_fill().over(SERIES_KEYS),
            pl.col("_observed").fill_null(False),
        )
    )


def holiday_features(sales: pl.DataFrame, country: str) -> pl.DataFrame:
    """is_holiday, days_to_holiday and days_since_holiday for each date in ``sales``."""
    first, last = sales["date"].min(), sales["date"].max()
    dates = np.arange(
        np.datetime64(first, "D"), np.datetime64(last, "D") + 1, dtype="datetime64[D]"
    )
    days = holiday_dates(country, first - dt.timedelta(days=HOLIDAY_HORIZON), last)
    to_next = np.full(len(dates), HOLIDAY_HORIZON)
    since_last = np.full(len(dates), HOLIDAY_HORIZON)
    if len(days):
        nxt = np.searchsorted(days, dates, side="left")
        has = nxt < len(days)
        to_next[has] = (days[nxt[has]] - dates[has]).astype(int)
        prev = np.searchsorted(days, dates, side="right") - 1
        has = prev >= 0
        since_last[has] = (dates[has] - days[prev[has]]).astype(int)
    return pl.DataFrame(
        {
            "date": dates,
            "is_holiday": (to_next == 0).astype(np.int8),
            "days_to_holiday": np.minimum(to_next, HOLIDAY_HORIZON).astype(np.int16),
            "days_since_holiday": np.minimum(since_last, HOLIDAY_HORIZON).astype(np.int16),
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def run(
    raw_path: Path,
    params: FeatureParams,
    country: str,
    out: Path,
    compute: ComputeParams | None = None,
) -> int:
    """Read raw sales, write the feature table to ``out``; return its row count. With
    ``compute.engine`` spark, Spark reads, builds and writes (forecast.features_spark)."""
    # A folder: its Parquet files only (not a writer's _SUCCESS or .crc files), which must
    # agree on their columns (either engine would misread them otherwise); a Delta table: its
    # current files. Refused first when there are none.
    parquet_files(raw_path)
    conflict = mixed_schema(raw_path)
    if conflict is not None:
        raise DataError(
            f"{raw_path}: its files disagree on a column: {conflict.column}: {conflict.observed}"
        )
    if compute is not None and compute.engine == "spark":
        from conveyor.compute.session import spark_failures, spark_session
        from forecast.features_spark import run_spark

        # What conform_raw refuses locally, from the footers, before Spark starts.
        raw = scan_data(raw_path)
        require_raw_columns(raw.collect_schema(), str(raw_path))
        if raw.select(pl.len()).collect().item() == 0:
            raise DataError(f"{raw_path}: no rows")
        spark = spark_session(compute.spark, "prepare")
        with spark_failures("features on Spark"):
            return run_spark(spark, raw_path, params, country, out)
    with parquet_read_errors(str(raw_path)):
        frame = scan_data(raw_path).collect()
    raw = typed_sales(frame, str(raw_path))
    features = build_features(raw, params, country)
    with atomic_path(out) as tmp:
        features.write_parquet(tmp, statistics=True)
    return features.height
