"""Features: right values, and no feature of day t is computed from sales of day t or later."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from forecast.features import build_features, feature_columns, holiday_features
from forecast.params import FeatureParams
from forecast.schema import KEYS, TARGET

PARAMS = FeatureParams()


@pytest.fixture(scope="module")
def features(small_sales) -> pl.DataFrame:
    return build_features(small_sales, PARAMS, "US")


def test_columns_and_rows(features, small_sales):
    assert features.columns[:4] == [*KEYS, TARGET]
    assert set(feature_columns(PARAMS)) <= set(features.columns)
    first = small_sales["date"].min()
    # Rows without the shortest lag are dropped: the first horizon_days of each series.
    assert features["date"].min() == first + dt.timedelta(days=PARAMS.horizon_days)
    assert features.select(KEYS).is_unique().all()


def test_lags_are_sales_of_earlier_days(features, small_sales):
    one = ("club_002", "item_0005")
    raw = small_sales.filter(pl.col("club_id") == one[0], pl.col("item_id") == one[1])
    row = features.filter(
        pl.col("club_id") == one[0],
        pl.col("item_id") == one[1],
        pl.col("date") == dt.date(2024, 3, 1),
    ).row(0, named=True)
    by_date = dict(zip(raw["date"], raw[TARGET], strict=True))
    for lag in PARAMS.lags:
        assert row[f"lag_{lag}"] == by_date.get(dt.date(2024, 3, 1) - dt.timedelta(days=lag))
    window = [
        by_date[dt.date(2024, 3, 1) - dt.timedelta(days=PARAMS.horizon_days + k)] for k in range(7)
    ]
    assert row["rolling_mean_7"] == pytest.approx(np.mean(window))


@pytest.mark.parametrize("cut", [dt.date(2023, 9, 30), dt.date(2024, 2, 14)])
def test_no_leakage_from_the_future(small_sales, cut):
    """Scrambling every sale on or after `cut` must not change any feature dated `cut`."""
    rng = np.random.default_rng(0)
    scrambled = small_sales.with_columns(
        pl.when(pl.col("date") >= cut)
        .then(pl.Series(rng.integers(0, 10_000, small_sales.height)))
        .otherwise(pl.col(TARGET))
        .alias(TARGET)
    )
    columns = feature_columns(PARAMS)
    before = build_features(small_sales, PARAMS, "US").filter(pl.col("date") == cut)
    after = build_features(scrambled, PARAMS, "US").filter(pl.col("date") == cut)
    assert before.height > 0
    assert before.select(columns).equals(after.select(columns))
    # ...and the check has teeth: the target itself did change.
    assert not before[TARGET].equals(after[TARGET])


def test_missing_days_are_days_not_rows(small_sales):
    """A gap in a series must not turn 'sales 28 days ago' into 'sales 28 rows ago'."""
    gap = dt.date(2023, 6, 10)
    holed = small_sales.filter(pl.col("date") != gap)
    features = build_features(holed, PARAMS, "US")
    day = gap + dt.timedelta(days=PARAMS.lags[0])
    row = features.filter(
        pl.col("club_id") == "club_001", pl.col("item_id") == "item_0001", pl.col("date") == day
    )
    assert row["lag_28"].item() is None  # the day 28 days earlier is missing, so the lag is unknown
    assert features.filter(pl.col("date") == gap).height == 0  # no invented rows


def test_holiday_features(features):
    christmas = features.filter(pl.col("date") == dt.date(2023, 12, 25)).row(0, named=True)
    before = features.filter(pl.col("date") == dt.date(2023, 12, 22)).row(0, named=True)
    assert christmas["is_holiday"] == 1
    assert before["is_holiday"] == 0
    assert before["days_to_holiday"] == 3
    assert features.filter(pl.col("date") == dt.date(2023, 12, 27))["days_since_holiday"][0] == 2


def test_price_ratio_shows_discounts(features):
    promo = features.group_by("promo").agg(pl.col("price_ratio").median())
    ratio = dict(zip(promo["promo"], promo["price_ratio"], strict=True))
    assert ratio[1] < 0.95 < ratio[0]


def test_row_order_does_not_matter(small_sales, features):
    shuffled = small_sales.sample(fraction=1.0, shuffle=True, seed=3)
    assert build_features(shuffled, PARAMS, "US").equals(features)


def test_a_series_built_apart_gives_the_whole_builds_rows(small_sales):
    # Spark builds the features a few series at a time: a series alone, one that ends 3 days
    # before a holiday (the days to it come from the holiday calendar, not from later data),
    # must get the rows the whole build gives it.
    one = ("club_002", "item_0005")
    calendar = holiday_features(small_sales, "US")
    end = calendar.filter(pl.col("is_holiday") == 1)["date"].max() - dt.timedelta(days=3)
    series = (pl.col("club_id") == one[0]) & (pl.col("item_id") == one[1])
    data = small_sales.filter(~series | (pl.col("date") <= end))
    whole = build_features(data, PARAMS, "US").filter(series)
    alone = build_features(data.filter(series), PARAMS, "US")
    assert alone.equals(whole)
    assert alone.filter(pl.col("date") == end)["days_to_holiday"].item() == 3


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda f: f.with_columns(
                pl.when(pl.int_range(pl.len()) == 7)
                .then(None)
                .otherwise("club_id")
                .alias("club_id")
            ),
            "x: column 'club_id' has missing values: every sale needs its club and item",
        ),
        # A day of a series twice, with other units, and out of key order: found all the same.
        (
            lambda f: pl.concat([f.slice(10, 1).with_columns(pl.col(TARGET) + 5), f]),
            "x: a club, item and day sold in more than one row, e.g. ",
        ),
    ],
)
def test_a_sale_without_its_series_or_a_day_sold_twice_is_refused(small_sales, edit, expected):
    from conveyor.errors import DataError
    from forecast.features import typed_sales

    with pytest.raises(DataError) as refused:
        typed_sales(edit(small_sales.sort(KEYS)), "x")
    assert str(refused.value).startswith(expected)
    if "twice" in expected:
        row = small_sales.sort(KEYS).row(10, named=True)
        assert str(refused.value).endswith(
            f"{row['club_id']}, {row['item_id']}, {row['date']}: each day of a series is one row"
        )
    # The same rows, each once and in key order, pass (the check is one pass over them).
    assert typed_sales(small_sales.sort(KEYS), "x").height == small_sales.height
