"""The time-based split shared by training and evaluation: the last weeks are never trained on."""

from __future__ import annotations

import datetime as dt

import polars as pl

from conveyor.errors import DataError


def holdout_start(features: pl.DataFrame, holdout_days: int) -> dt.date:
    """First day of the holdout: the last ``holdout_days`` days of the data."""
    last = features["date"].max()
    if last is None:
        raise DataError("features: no rows to split into training and holdout")
    return last - dt.timedelta(days=holdout_days - 1)


def split(features: pl.DataFrame, holdout_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(training rows, holdout rows); both non-empty or a DataError says which is missing."""
    start = holdout_start(features, holdout_days)
    train = features.filter(pl.col("date") < start)
    test = features.filter(pl.col("date") >= start)
    if train.height == 0:
        raise DataError(
            f"features: no rows before the holdout start {start}: the data needs more than "
            f"evaluate.holdout_days={holdout_days} days after the longest feature lag"
        )
    return train, test
