"""The served model's reference price for each window day (the largest price of the PRICE_MEMORY
days before it, from the history alone) is read from a running maximum over a series x day array;
it must equal the definition read literally: one filter and one maximum per window day. The same
for the earlier prices of a request (one rolling maximum)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from forecast.features import PRICE_MEMORY
from forecast.forecaster import _earlier_price_max, _window_table
from forecast.params import FeatureParams
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


def _compare(history: pl.DataFrame, params: FeatureParams) -> None:
    end = history["date"].max()
    days = [end + dt.timedelta(days=d) for d in range(1, params.horizon_days + 1)]
    found = _window_table(history, params, "US", end).select(*KEYS, "_history_price_max")
    expected = found.select(KEYS).join(_literal(history, days), on=list(KEYS), how="left")
    assert found.sort(KEYS).equals(expected.sort(KEYS))
    assert found["_history_price_max"].null_count() < found.height


def test_equals_the_literal_definition_on_generated_sales(small_sales, repo_params) -> None:
    _compare(small_sales, repo_params.features)


def test_equals_it_with_gaps_missing_prices_and_a_series_that_stopped(
    small_sales: pl.DataFrame, repo_params
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
    _compare(history, repo_params.features)
    # A window longer than PRICE_MEMORY: its far days have no history price at all.
    _compare(history, repo_params.features.model_copy(update={"horizon_days": 60, "lags": [60]}))


def _earlier_literal(requests: pl.DataFrame) -> pl.DataFrame:
    """The request side of the definition, literally: every other requested day of the series
    within PRICE_MEMORY days before the row, joined and reduced."""
    earlier = requests.select(
        *SERIES_KEYS, pl.col("date").alias("_earlier"), pl.col("price").alias("_earlier_price")
    )
    found = (
        requests.select(KEYS)
        .join(earlier, on=list(SERIES_KEYS))
        .filter(
            (pl.col("_earlier") < pl.col("date"))
            & (pl.col("_earlier") >= pl.col("date") - pl.duration(days=PRICE_MEMORY))
        )
        .group_by(KEYS)
        .agg(pl.col("_earlier_price").max().alias("_request_price_max"))
    )
    return requests.select(KEYS).join(found, on=list(KEYS), how="left")


def test_the_earlier_requested_price_equals_its_literal_definition(small_sales) -> None:
    # Requests spanning more than PRICE_MEMORY days (old days fall out of the window), with
    # gaps, missing prices and rows in no particular order.
    requests = (
        small_sales.filter(pl.col("date") > small_sales["date"].max() - dt.timedelta(days=120))
        .filter(pl.col("date").dt.day() % 4 != 0)
        .with_columns(
            pl.when(pl.col("date").dt.day() % 9 == 0).then(None).otherwise("price").alias("price")
        )
        .select(*KEYS, "price")
        .sample(fraction=1.0, shuffle=True, seed=5)
    )
    expected = _earlier_literal(requests).sort(KEYS)
    found = _earlier_price_max(requests).sort(KEYS)
    assert found.equals(expected)
    assert found["_request_price_max"].null_count() < found.height  # not all empty
