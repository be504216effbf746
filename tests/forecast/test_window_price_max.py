"""The served model's reference price for each window day (the largest price of the PRICE_MEMORY
days before it, from the history alone) is computed in one as-of lookup; it must equal the
definition read literally: one filter and one maximum per window day."""

from __future__ import annotations

import datetime as dt

import polars as pl

from forecast.features import PRICE_MEMORY
from forecast.forecaster import _history_price_max
from forecast.schema import KEYS, SERIES_KEYS


def _literal(history: pl.DataFrame, days: list[dt.date]) -> pl.DataFrame:
    """The definition, day by day (what the forecaster computed before)."""
    return pl.concat(
        history.filter(
            (pl.col("date") >= day - dt.timedelta(days=PRICE_MEMORY)) & (pl.col("date") < day)
        )
        .group_by(SERIES_KEYS)
        .agg(pl.col("price").max().alias("_history_price_max"))
        .with_columns(pl.lit(day).alias("date"))
        for day in days
    )


def _compare(history: pl.DataFrame) -> None:
    end = history["date"].max()
    days = [end + dt.timedelta(days=d) for d in range(1, 29)]
    wanted = history.select(SERIES_KEYS).unique().join(pl.DataFrame({"date": days}), how="cross")
    expected = wanted.join(_literal(history, days), on=list(KEYS), how="left").sort(KEYS)
    found = _history_price_max(history, days).sort(KEYS)
    assert found.select(expected.columns).equals(expected)


def test_equals_the_literal_definition_on_generated_sales(small_sales: pl.DataFrame) -> None:
    _compare(small_sales)


def test_equals_it_with_gaps_missing_prices_and_a_series_that_stopped(
    small_sales: pl.DataFrame,
) -> None:
    end = small_sales["date"].max()
    first = small_sales.select(SERIES_KEYS).unique().sort(SERIES_KEYS).row(0)
    last = small_sales.select(SERIES_KEYS).unique().sort(SERIES_KEYS).row(-1)
    of = lambda key: (pl.col("club_id") == key[0]) & (pl.col("item_id") == key[1])  # noqa: E731
    history = (
        small_sales.filter(~(pl.col("date").dt.day() % 5 == 0))  # a gap every fifth day
        # The most recent prices of one series unknown, older ones known.
        .with_columns(
            pl.when(of(first) & (pl.col("date") > end - dt.timedelta(days=20)))
            .then(None)
            .otherwise(pl.col("price"))
            .alias("price")
        )
        # Unknown prices between known ones, in every series.
        .with_columns(
            pl.when(pl.col("date").dt.day() % 7 == 0)
            .then(None)
            .otherwise(pl.col("price"))
            .alias("price")
        )
        # Another series stopped selling 70 days before the end: no price in its window at all.
        .filter(~(of(last) & (pl.col("date") > end - dt.timedelta(days=70))))
    )
    _compare(history)
