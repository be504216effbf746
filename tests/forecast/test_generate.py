"""The synthetic generator: deterministic, complete, and shaped like real club demand."""

from __future__ import annotations

import datetime as dt

import polars as pl

from forecast.generate import REGIONS, generate_sales
from forecast.schema import KEYS, RAW_SCHEMA


def test_same_seed_same_data(synthetic_params):
    first = generate_sales(synthetic_params)
    second = generate_sales(synthetic_params)
    assert first.equals(second)


def test_other_seed_other_data(synthetic_params):
    other = synthetic_params.model_copy(update={"seed": synthetic_params.seed + 1})
    assert not generate_sales(synthetic_params)["units_sold"].equals(
        generate_sales(other)["units_sold"]
    )


def test_schema_and_complete_grid(small_sales, synthetic_params):
    assert dict(small_sales.schema) == RAW_SCHEMA
    p = synthetic_params
    assert small_sales.height == p.n_clubs * p.n_items * p.n_days
    assert small_sales.select(KEYS).is_unique().all()
    assert small_sales["date"].min() == p.start_date
    assert small_sales["date"].max() == p.start_date + dt.timedelta(days=p.n_days - 1)
    assert small_sales.null_count().sum_horizontal().item() == 0
    assert (small_sales["units_sold"] >= 0).all()
    assert (small_sales["price"] > 0).all()


def test_hierarchy_each_club_one_region_each_item_one_category(default_sales):
    assert (default_sales.group_by("club_id").agg(pl.col("region").n_unique())["region"] == 1).all()
    assert (
        default_sales.group_by("item_id").agg(pl.col("category").n_unique())["category"] == 1
    ).all()
    assert set(default_sales["region"].unique()) == set(REGIONS)


def test_weekends_sell_more(default_sales):
    by_day = default_sales.group_by(pl.col("date").dt.weekday().alias("dow")).agg(
        pl.col("units_sold").mean()
    )
    mean = dict(zip(by_day["dow"], by_day["units_sold"], strict=True))
    assert mean[6] > 1.3 * mean[2]  # Saturday vs Tuesday


def test_promotions_cut_price_and_lift_demand(default_sales):
    per_item = default_sales.group_by("item_id", "promo").agg(
        pl.col("units_sold").mean(), pl.col("price").mean()
    )
    wide = per_item.pivot(on="promo", index="item_id", values=["units_sold", "price"]).drop_nulls()
    assert (wide["price_1"] < wide["price_0"]).all()
    assert (wide["units_sold_1"] > wide["units_sold_0"]).mean() > 0.9


def test_yearly_seasonality_beverages_peak_in_summer(default_sales):
    beverages = default_sales.filter(pl.col("category") == "beverages")
    by_month = beverages.group_by(pl.col("date").dt.month().alias("m")).agg(
        pl.col("units_sold").mean()
    )
    mean = dict(zip(by_month["m"], by_month["units_sold"], strict=True))
    assert mean[7] > 1.3 * mean[1]


def test_members_stock_up_before_holidays(default_sales):
    daily = default_sales.group_by("date").agg(pl.col("units_sold").sum()).sort("date")

    def total(day: dt.date) -> int:
        return daily.filter(pl.col("date") == day)["units_sold"].item()

    # Thanksgiving 2024 was Thursday 28 November: the Tuesday before beats the one a week earlier.
    assert total(dt.date(2024, 11, 26)) > 1.15 * total(dt.date(2024, 11, 19))
    assert total(dt.date(2024, 11, 28)) < total(dt.date(2024, 11, 26))


def test_stockouts_are_runs_of_zero_sales(default_sales):
    # Grocery items sell dozens a day: their zero days are stock-outs, and they come in runs.
    grocery = default_sales.filter(pl.col("category") == "grocery").sort(KEYS)
    zero = grocery.with_columns(
        (pl.col("units_sold") == 0).alias("zero"),
        (pl.col("units_sold") == 0).shift(1).over("club_id", "item_id").alias("zero_before"),
    )
    share = zero["zero"].mean()
    assert 0.005 < share < 0.03
    runs = zero.filter(pl.col("zero"))
    assert runs["zero_before"].mean() > 0.5


def test_trend_and_club_effects(default_sales):
    per_club = default_sales.group_by("club_id").agg(pl.col("units_sold").mean())["units_sold"]
    assert per_club.max() > 1.3 * per_club.min()
    yearly = (
        default_sales.group_by(pl.col("date").dt.year().alias("y"))
        .agg(pl.col("units_sold").sum())
        .sort("y")
    )
    assert yearly["units_sold"][-1] > yearly["units_sold"][0]
