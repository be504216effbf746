"""Deterministic synthetic daily unit sales for a wholesale club chain (clubs x items x days).

The series carry what real retail demand has, so the model has something real to learn: weekly
and yearly seasonality, holidays, chain-wide promotions with discounts, price elasticity, club and
item effects, a region/category hierarchy, trend, over-dispersed noise and stock-outs (zero sales
despite demand). Everything is drawn from one seeded generator: the same params give the same bytes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from forecast.calendar import holiday_dates
from forecast.params import SyntheticParams

REGIONS = ("northeast", "southeast", "midwest", "southwest", "west")
# category: (typical units/day, typical price, price elasticity, yearly amplitude, peak day of year)
CATEGORIES = {
    "grocery": (40.0, 12.0, -1.2, 0.05, 330),
    "beverages": (30.0, 15.0, -1.5, 0.25, 190),
    "household": (18.0, 20.0, -1.0, 0.05, 100),
    "personal_care": (12.0, 18.0, -0.9, 0.05, 30),
    "electronics": (2.0, 250.0, -2.2, 0.45, 335),
    "apparel": (6.0, 30.0, -1.8, 0.30, 340),
}
# Monday .. Sunday: members shop at the weekend.
WEEKDAY_FACTOR = np.array([0.85, 0.80, 0.85, 0.92, 1.05, 1.38, 1.20])
NB_DISPERSION = 4.0  # negative-binomial shape: variance = mu + mu^2 / k
STOCKOUT_DAYS = 3  # a stock-out lasts this many days


def generate_sales(params: SyntheticParams, holidays_country: str = "US") -> pl.DataFrame:
    """Return one row per (club, item, date) with the raw sales schema (see forecast.schema)."""
    rng = np.random.default_rng(params.seed)
    # Unset, the catalogue takes the first draws of the one generator (the bytes of every
    # data set made before catalogue_seed existed are unchanged).
    chain = rng if params.catalogue_seed is None else np.random.default_rng(params.catalogue_seed)
    n_clubs, n_items, n_days = params.n_clubs, params.n_items, params.n_days
    dates = np.datetime64(params.start_date, "D") + np.arange(n_days)
    end = params.start_date + dt.timedelta(days=n_days - 1)

    club_region = np.array([REGIONS[i % len(REGIONS)] for i in range(n_clubs)])
    club_size = chain.lognormal(0.0, 0.3, n_clubs)
    club_growth = chain.normal(0.03, 0.04, n_clubs)  # yearly trend per club
    club_price = chain.uniform(0.96, 1.04, n_clubs)  # regional price level

    names = list(CATEGORIES)
    item_category = np.array([names[i % len(names)] for i in range(n_items)])
    cat = np.array([CATEGORIES[c] for c in item_category])
    item_base = chain.lognormal(np.log(cat[:, 0]), 0.5)
    item_price = np.round(chain.lognormal(np.log(cat[:, 1]), 0.3), 2)
    item_elasticity = np.minimum(cat[:, 2] + chain.normal(0, 0.25, n_items), -0.2)

    # Per-day factors, shape (n_days,) or (n_items, n_days).
    day_index = np.arange(n_days)
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(int) + 1
    yearly = 1 + cat[:, 3:4] * np.cos(2 * np.pi * (day_of_year[None, :] - cat[:, 4:5]) / 365.25)
    years = day_index / 365.25
    holiday = _holiday_factor(dates, holiday_dates(holidays_country, params.start_date, end))
    inflation = (1.03**years)[None, :]

    # Chain-wide promotions: an item is on promotion for a whole week in every club.
    n_weeks = n_days // 7 + 1
    promo_week = rng.random((n_items, n_weeks)) < params.promo_rate
    promo = np.repeat(promo_week, 7, axis=1)[:, :n_days]  # (items, days)
    discount = np.where(promo, rng.uniform(0.10, 0.30, (n_items, 1)), 0.0)
    promo_lift = np.where(promo, rng.uniform(1.2, 1.6, (n_items, 1)), 1.0)

    list_price = item_price[:, None] * inflation  # (items, days)
    price = np.round(club_price[:, None, None] * list_price[None] * (1 - discount[None]), 2)
    price_effect = (1 - discount) ** item_elasticity[:, None]  # relative to the list price

    mean = (
        club_size[:, None, None]
        * (1 + club_growth[:, None, None] * years[None, None, :])
        * club_price[:, None, None] ** item_elasticity[None, :, None]
        * (item_base[:, None] * yearly * price_effect * promo_lift)[None]
        * (WEEKDAY_FACTOR[weekday] * holiday)[None, None, :]
    )
    # Negative binomial as a gamma-Poisson mixture: over-dispersed counts with this mean.
    units = rng.poisson(rng.gamma(NB_DISPERSION, mean / NB_DISPERSION))

    # Stock-outs: a run of days with zero sales whatever the demand.
    starts = rng.random(units.shape) < params.stockout_rate / STOCKOUT_DAYS
    run = np.cumsum(starts, axis=2)
    lagged = np.concatenate(
        [np.zeros((*run.shape[:2], STOCKOUT_DAYS), run.dtype), run[:, :, :-STOCKOUT_DAYS]], axis=2
    )
    units[run - lagged > 0] = 0

    club_ids = np.array([f"club_{i + 1:03d}" for i in range(n_clubs)])
    item_ids = np.array([f"item_{i + 1:04d}" for i in range(n_items)])
    club_of_row = np.repeat(np.arange(n_clubs), n_items * n_days)
    item_of_row = np.tile(np.repeat(np.arange(n_items), n_days), n_clubs)
    return pl.DataFrame(
        {
            "date": np.tile(dates, n_clubs * n_items),
            "club_id": _labels(club_ids, club_of_row),
            "item_id": _labels(item_ids, item_of_row),
            "region": _labels(club_region, club_of_row),
            "category": _labels(item_category, item_of_row),
            "price": price.reshape(-1),
            "promo": np.broadcast_to(promo[None], units.shape).reshape(-1).astype(np.int8),
            "units_sold": units.reshape(-1).astype(np.int64),
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def _labels(names: np.ndarray, codes: np.ndarray) -> pl.Series:
    """One label per row, as polars strings (numpy's fixed-width strings cost 4x the memory)."""
    return pl.Series(names.tolist(), dtype=pl.String).gather(codes)


def _holiday_factor(dates: np.ndarray, holidays: np.ndarray) -> np.ndarray:
    """Demand multiplier per day: members stock up in the days before a holiday, few shop on it."""
    factor = np.ones(len(dates))
    if len(holidays) == 0:
        return factor
    following = np.searchsorted(holidays, dates)  # index of the first holiday on or after the day
    has_next = following < len(holidays)
    days_to = np.full(len(dates), 10_000)
    days_to[has_next] = (holidays[following[has_next]] - dates[has_next]).astype(int)
    factor[days_to == 0] = 0.6
    factor[(days_to >= 1) & (days_to <= 3)] = 1.3
    return factor
