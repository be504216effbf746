"""The served model's window table (every series x window day, the features that come from the
history) is read from a series x day array of the history; it must equal what training's
`build_features` makes of those rows, on generated sales and on histories with gaps, series that
start late or stopped selling, and missing prices."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forecast.features import build_features
from forecast.forecaster import _window_table
from forecast.params import FeatureParams
from forecast.schema import KEYS, RAW_SCHEMA, SERIES_KEYS, TARGET
from tests.forecast.test_window_price_max import _literal


def _by_training(history: pl.DataFrame, params: FeatureParams, end: dt.date) -> pl.DataFrame:
    """The definition: the window's rows appended to the history (unknown sales), every
    feature built over all of it as training builds it, the window's rows kept."""
    days = [end + dt.timedelta(days=d) for d in range(1, params.horizon_days + 1)]
    labels = history.group_by(SERIES_KEYS, maintain_order=True).agg(
        pl.col("region", "category").last()
    )
    future = (
        labels.join(pl.DataFrame({"date": days}), how="cross")
        .with_columns(
            pl.lit(None, pl.Float64).alias("price"),
            pl.lit(0, pl.Int8).alias("promo"),
            pl.lit(None, pl.Int64).alias(TARGET),
        )
        .select(list(RAW_SCHEMA))
        .cast(RAW_SCHEMA)
    )
    features = build_features(pl.concat([history, future]), params, "US").filter(
        pl.col("date") > end
    )
    # the series' largest daily sales in the history (the batch's history_max)
    peak = history.group_by(SERIES_KEYS).agg(
        pl.col(TARGET).max().cast(pl.Float64).alias("_history_max")
    )
    return (
        features.drop("price", "promo", "price_ratio", TARGET)
        .join(_literal(history, days), on=list(KEYS), how="left")
        .join(peak, on=list(SERIES_KEYS), how="left")
    )


def _compare(history: pl.DataFrame, params: FeatureParams) -> pl.DataFrame:
    end = history["date"].max()
    expected = _by_training(history, params, end).sort(KEYS)
    found = _window_table(history, params, "US", end)
    assert found.columns == expected.columns
    assert_frame_equal(found.sort(KEYS), expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    return found


def test_equals_training_on_generated_sales(small_sales, repo_params) -> None:
    found = _compare(small_sales.sort(KEYS), repo_params.features)
    series = small_sales.select(SERIES_KEYS).n_unique()
    assert found.height == series * repo_params.features.horizon_days  # every series, every day


def test_equals_training_with_gaps_late_starts_stopped_series_and_unsorted_rows(
    small_sales, repo_params
) -> None:
    end = small_sales["date"].max()
    pairs = small_sales.select(SERIES_KEYS).unique().sort(SERIES_KEYS)
    of = lambda key: (pl.col("club_id") == key[0]) & (pl.col("item_id") == key[1])  # noqa: E731
    history = (
        small_sales.filter(~(pl.col("date").dt.day() % 5 == 0))  # a gap every fifth day
        # A series that started 40 days before the end, and one 10 days before it: a window day
        # earlier than its first day plus the shortest lag (28) has no history (left out).
        .filter(~(of(pairs.row(0)) & (pl.col("date") < end - dt.timedelta(days=40))))
        .filter(~(of(pairs.row(1)) & (pl.col("date") < end - dt.timedelta(days=10))))
        # One that stopped selling 100 days before the end.
        .filter(~(of(pairs.row(-1)) & (pl.col("date") > end - dt.timedelta(days=100))))
        .with_columns(
            pl.when(pl.col("date").dt.day() % 7 == 0)
            .then(None)
            .otherwise(pl.col("price"))
            .alias("price")
        )
        .sample(fraction=1.0, shuffle=True, seed=3)  # rows in no particular order
    )
    found = _compare(history, repo_params.features)
    assert found.filter(of(pairs.row(0))).height == 28
    late = found.filter(of(pairs.row(1)))["date"]  # from end - 10 + 28 on: 11 days
    assert (late.min(), late.len()) == (end + dt.timedelta(days=18), 11)


@pytest.mark.parametrize(
    "knobs", [{"lags": [28, 29, 400], "rolling_windows": [2, 3, 200]}, {"horizon_days": 7}]
)
def test_equals_training_for_other_lags_and_windows(small_sales, repo_params, knobs) -> None:
    params = repo_params.features.model_copy(update=knobs)
    if "horizon_days" in knobs:
        params = params.model_copy(update={"lags": [7, 14, 364]})
    _compare(small_sales, params)
