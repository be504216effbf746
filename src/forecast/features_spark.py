"""The `prepare` stage on Spark (`compute.engine: spark`): the features of forecast.features, same
definitions, same rows, same columns and types, computed with Spark's native window functions.

Gap filling without inserting rows: forecast.features inserts the missing days of each series so
that a shift by n rows is a shift by n days. Here every window is a *range* frame over the day
number (`rangeBetween`), which is a shift by n days by construction: a missing day simply has no
row in the frame, as an inserted row with null sales adds nothing to polars' rolling statistics.
The output holds observed rows only on both engines, so the inserted rows never had to exist.

Rolling means and standard deviations come from running counts, sums and sums of squares (a
window's = the running value at its end less the one before its start): Spark recomputes a
sliding frame from its rows for every row, a running frame grows by one. Sales are whole units,
so the sums are exact and the statistics are polars' (measured: benchmarks/spark_scale.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from conveyor.errors import DataError
from conveyor.files import atomic_path
from forecast.features import PRICE_MEMORY, feature_columns, holiday_features
from forecast.params import FeatureParams
from forecast.schema import KEYS, SERIES_KEYS, TARGET

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.window import WindowSpec

DAY = "_day"  # days since 1970-01-01: the order of every range frame
# Spark types of the columns whose polars type is not what Spark's functions give (calendar
# parts are int32 in Spark), so the file, and the features contract, see the local types.
TYPES = {
    "date": "date",
    TARGET: "bigint",
    "day_of_week": "tinyint",
    "day_of_month": "tinyint",
    "day_of_year": "smallint",
    "month": "tinyint",
    "is_holiday": "tinyint",
    "days_to_holiday": "smallint",
    "days_since_holiday": "smallint",
    "price": "double",
    "promo": "tinyint",
}
HOLIDAY_SCHEMA = (
    "date date, is_holiday tinyint, days_to_holiday smallint, days_since_holiday smallint"
)


def build_features_spark(raw: DataFrame, params: FeatureParams, country: str) -> DataFrame:
    """Keys, target and feature columns for every observed (club, item, date) with history:
    forecast.features.build_features on a Spark DataFrame (rows in no particular order)."""
    return _output(_with_day(raw, params, _holidays(raw, country)), params)


def _with_day(raw: DataFrame, params: FeatureParams, holidays: DataFrame) -> DataFrame:
    """The feature rows, with their day number still in (the order of every window)."""
    from pyspark.sql import functions as sf

    running = raw.withColumn(DAY, sf.unix_date("date")).select("*", *_running(params))
    return (
        running.select("*", *_history(params), *_calendar())
        .join(sf.broadcast(holidays), on="date", how="left")
        # Rows before the first lag have no history (the local engine drops them too).
        .filter(sf.col(DAY) >= sf.col("_first_day") + min(params.lags))
    )


def _output(features: DataFrame, params: FeatureParams) -> DataFrame:
    """The local engine's columns, in its order and with its types."""
    from pyspark.sql import functions as sf

    columns = [*KEYS, TARGET, *(c for c in feature_columns(params) if c not in KEYS)]
    return features.select(*(sf.col(c).cast(TYPES.get(c, _default_type(c))) for c in columns))


def _default_type(column: str) -> str:
    """Keys and categories are strings; every history feature is a double, as in polars."""
    return "string" if column in (*SERIES_KEYS, "region", "category") else "double"


def _days(start: int, end: int) -> WindowSpec:
    """The rows of the same series dated from ``start`` to ``end`` days from this row's date."""
    from pyspark.sql.window import Window

    return Window.partitionBy(*SERIES_KEYS).orderBy(DAY).rangeBetween(start, end)


def _running(params: FeatureParams) -> list[Column]:
    """Count, sum and sum of squares of the sales up to ``offset`` days before each row, for
    each offset a rolling window needs (the horizon, and the horizon plus each window)."""
    from pyspark.sql import functions as sf
    from pyspark.sql.window import Window

    units = sf.col(TARGET).cast("bigint")
    columns = []
    for offset in _offsets(params):
        # A frame from the series' start grows by a row at a time: O(1) a row, where a sliding
        # frame of w days re-reads its w rows for every row (Spark recomputes sliding frames).
        upto = _days(Window.unboundedPreceding, -offset)
        columns += [
            sf.count(units).over(upto).alias(f"_n{offset}"),
            sf.coalesce(sf.sum(units).over(upto), sf.lit(0)).alias(f"_s{offset}"),
            sf.coalesce(sf.sum(units * units).over(upto), sf.lit(0)).alias(f"_q{offset}"),
        ]
    # A running minimum: the series' first day.
    first_day = sf.min(DAY).over(_days(Window.unboundedPreceding, Window.currentRow))
    return [*columns, first_day.alias("_first_day")]


def _offsets(params: FeatureParams) -> list[int]:
    """The days before a row at which the running sums are read."""
    horizon = params.horizon_days
    return sorted({horizon, *(horizon + w for w in params.rolling_windows)})


def _history(params: FeatureParams) -> list[Column]:
    """Lags, rolling statistics of the sales known ``horizon_days`` ahead, and the price ratio."""
    from pyspark.sql import functions as sf

    units = sf.col(TARGET).cast("double")
    horizon = params.horizon_days
    columns = [sf.first(units).over(_days(-lag, -lag)).alias(f"lag_{lag}") for lag in params.lags]
    stds = []
    for w in params.rolling_windows:
        # polars: units.shift(horizon).rolling_*(w): the w days ending horizon days before t,
        # i.e. the running sums at `horizon` days less those at `horizon + w` days. Exact, as
        # sales are whole units (int64): the same mean as polars', the same standard deviation
        # to the last bits (polars rounds on its way, this rounds once).
        n, total, squares = (
            sf.col(f"_{part}{horizon}") - sf.col(f"_{part}{horizon + w}") for part in "nsq"
        )
        mean = sf.when(n > 0, total / n)  # null without a sale, as min_samples=1
        # ddof 1 and null below 2 values, as rolling_std(min_samples=2); n*q - s^2 is exact.
        variance = (n * squares - total * total).cast("double") / (n * (n - 1))
        columns.append(mean.alias(f"rolling_mean_{w}"))
        stds.append(sf.when(n > 1, sf.sqrt(variance)).alias(f"rolling_std_{w}"))
    price = sf.col("price") / sf.max("price").over(_days(-PRICE_MEMORY, -1))
    return [*columns, *stds, price.alias("price_ratio")]


def _calendar() -> list[Column]:
    """Day of week (1 = Monday, as polars' weekday), of month, of year, and the month."""
    from pyspark.sql import functions as sf

    date = sf.col("date")
    return [
        (sf.weekday(date) + 1).alias("day_of_week"),  # Spark's weekday: 0 = Monday
        sf.dayofmonth(date).alias("day_of_month"),
        sf.dayofyear(date).alias("day_of_year"),
        sf.month(date).alias("month"),
    ]


def _holidays(sales: DataFrame, country: str) -> DataFrame:
    """forecast.features.holiday_features for the data's date range, as a small Spark table:
    the calendar is computed in Python once (a few hundred rows), the one definition of it."""
    from pyspark.sql import functions as sf

    first, last = sales.agg(sf.min("date"), sf.max("date")).head()
    span = pl.DataFrame({"date": [first, last]}, schema={"date": pl.Date})
    table = holiday_features(span, country)
    return sales.sparkSession.createDataFrame(table.rows(), schema=HOLIDAY_SCHEMA)


def run_spark(
    spark: SparkSession, raw_path: Path, params: FeatureParams, country: str, out: Path
) -> int:
    """Read raw sales with Spark, write the feature table to the one file ``out``; return its
    row count."""
    # Range-partitioned by series first: the windows need each series in one partition, and
    # this partitioning puts the series in key order across the parts too, so the rows come out
    # of the windows already in (club, item, date) order. An orderBy at the end would sample
    # (compute) the whole plan once more before sorting it.
    raw = spark.read.parquet(str(raw_path))
    holidays = _holidays(raw, country)  # before the repartition: a scan, not a shuffle
    features = _with_day(raw.repartitionByRange(*SERIES_KEYS), params, holidays)
    features = features.sortWithinPartitions(*SERIES_KEYS, DAY)
    # Spark writes a folder of parts; downstream stages read one file, so the parts (part i
    # before part i+1) are joined into it. Fine at the example's size; at cluster scale the
    # output should be the folder itself (a later change).
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".features-", dir=out.parent) as tmp:
        parts = Path(tmp) / "parts"
        _output(features, params).write.parquet(str(parts))
        with atomic_path(out) as target:
            rows = _concatenate(sorted(parts.glob("part-*.parquet")), target)
    return rows


def _concatenate(parts: list[Path], target: Path) -> int:
    """Append the row groups of ``parts``, in order, to one Parquet file; return the rows.

    One part at a time, so memory holds a part, not the table."""
    import pyarrow.parquet as pq

    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for part in parts:
            table = pq.read_table(part)
            if writer is None:
                writer = pq.ParquetWriter(target, table.schema, write_statistics=True)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise DataError("prepare on Spark: Spark wrote no Parquet part")
    return rows
