"""The `prepare` stage on Spark (`compute.engine: spark`): the features of forecast.features, same
definitions, same rows, same columns and types, computed with Spark's native window functions.

Gap filling without inserting rows: forecast.features inserts the missing days of each series so
that a shift by n rows is a shift by n days. Here every window is a *range* frame over the day
number (`rangeBetween`), which is a shift by n days by construction: a missing day simply has no
row in the frame, as an inserted row with null sales adds nothing to polars' rolling statistics.
The output holds observed rows only on both engines, so the inserted rows never had to exist.
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
    from pyspark.sql import functions as sf

    sales = raw.withColumn(DAY, sf.unix_date("date"))
    features = (
        sales.select("*", *_history(params), *_calendar())
        .join(sf.broadcast(_holidays(sales, country)), on="date", how="left")
        # Rows before the first lag have no history (the local engine drops them too).
        .filter(sf.col(DAY) >= sf.col("_first_day") + min(params.lags))
    )
    columns = [*KEYS, TARGET, *(c for c in feature_columns(params) if c not in KEYS)]
    return features.select(*(sf.col(c).cast(TYPES.get(c, _default_type(c))) for c in columns))


def _default_type(column: str) -> str:
    """Keys and categories are strings; every history feature is a double, as in polars."""
    return "string" if column in (*SERIES_KEYS, "region", "category") else "double"


def _days(start: int, end: int) -> WindowSpec:
    """The rows of the same series dated from ``start`` to ``end`` days from this row's date."""
    from pyspark.sql.window import Window

    return Window.partitionBy(*SERIES_KEYS).orderBy(DAY).rangeBetween(start, end)


def _history(params: FeatureParams) -> list[Column]:
    """Lags, rolling statistics of the sales known ``horizon_days`` ahead, and the price ratio."""
    from pyspark.sql import functions as sf
    from pyspark.sql.window import Window

    units = sf.col(TARGET).cast("double")
    horizon = params.horizon_days
    # polars: units.shift(horizon).rolling_*(w): the w days ending horizon days before t.
    span = {w: _days(-(horizon + w - 1), -horizon) for w in params.rolling_windows}
    return [
        *(sf.first(units).over(_days(-lag, -lag)).alias(f"lag_{lag}") for lag in params.lags),
        *(sf.avg(units).over(span[w]).alias(f"rolling_mean_{w}") for w in params.rolling_windows),
        # stddev_samp: ddof 1 and null below 2 values, as polars' rolling_std(min_samples=2).
        *(
            sf.stddev_samp(units).over(span[w]).alias(f"rolling_std_{w}")
            for w in params.rolling_windows
        ),
        (sf.col("price") / sf.max("price").over(_days(-PRICE_MEMORY, -1))).alias("price_ratio"),
        # A running minimum: the series' first day, on the frame the other windows share.
        sf.min(DAY).over(_days(Window.unboundedPreceding, Window.currentRow)).alias("_first_day"),
    ]


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
    features = build_features_spark(spark.read.parquet(str(raw_path)), params, country)
    # Spark writes a folder of parts; downstream stages read one file, so the parts (in key
    # order: orderBy range-partitions, part i before part i+1) are joined into it. Fine at the
    # example's size; at cluster scale the output should be the folder itself (a later change).
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".features-", dir=out.parent) as tmp:
        parts = Path(tmp) / "parts"
        features.orderBy(*KEYS).write.parquet(str(parts))
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
