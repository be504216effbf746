"""The time-based split shared by training and evaluation: the last weeks are never trained on."""

from __future__ import annotations

import datetime as dt

import polars as pl

from conveyor.errors import DataError


def holdout_start(features: pl.DataFrame | pl.LazyFrame, holdout_days: int) -> dt.date:
    """First day of the holdout: the last ``holdout_days`` days of the data."""
    last = features.lazy().select(pl.col("date").max()).collect().item()
    if last is None:
        raise DataError("features: no rows to split into training and holdout")
    return last - dt.timedelta(days=holdout_days - 1)


def require_training_rows(rows: int, start: dt.date, holdout_days: int) -> None:
    """A DataError when nothing lies before the holdout: there would be nothing to train on."""
    if rows == 0:
        raise DataError(
            f"features: no rows before the holdout start {start}: the data needs more than "
            f"evaluate.holdout_days={holdout_days} days after the longest feature lag"
        )


def split(features: pl.DataFrame, holdout_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(training rows, holdout rows); no training rows is a DataError."""
    start = holdout_start(features, holdout_days)
    train = features.filter(pl.col("date") < start)
    require_training_rows(train.height, start, holdout_days)
    return train, features.filter(pl.col("date") >= start)
