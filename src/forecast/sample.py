"""Which series the train stage fits on: all of them, or a seeded sample of whole series.

When the training rows outgrow one machine's memory, the model trains on a sample of whole series
(club x item), so each sampled series keeps every day and its lags and rolling windows stay what
they are at serving time. The sample is stratified by series attributes (params.yaml
`train.sample.stratify`): each stratum gets its share of the row budget, and its first series
before any stratum gets a second, so every stratum is present when the budget allows one series
of each. The holdout is never sampled: evaluation scores every series (forecast.holdout).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from conveyor.errors import ConfigError
from forecast.params import SampleParams
from forecast.schema import SERIES_KEYS

ROWS, ORDER, RANDOM, ALL = "_rows", "_order", "_random", "_all"


def check_stratify(features: pl.LazyFrame, stratify: list[str]) -> None:
    """A ConfigError naming any stratify column the features lack (read from the schema only)."""
    columns = features.collect_schema().names()
    unknown = [c for c in stratify if c not in columns]
    if unknown:
        raise ConfigError(
            f"train.sample.stratify: no column {', '.join(map(repr, unknown))} in the features "
            f"(columns: {', '.join(columns)})"
        )


def series_table(training: pl.LazyFrame, stratify: list[str]) -> pl.DataFrame:
    """One row per series: its keys, its stratum and its number of training rows, key-sorted
    (``stratify``'s columns are checked by check_stratify, which the train stage runs first)."""
    attributes = [c for c in stratify if c not in SERIES_KEYS]
    table = (
        training.group_by(SERIES_KEYS)
        .agg(
            pl.len().alias(ROWS),
            *(pl.col(c).first() for c in attributes),
            *(pl.col(c).n_unique().alias(f"_n_{c}") for c in attributes),
        )
        .sort(SERIES_KEYS)
        .collect()
    )
    varying = [c for c in attributes if table[f"_n_{c}"].max() not in (None, 1)]
    if varying:
        # A stratum must hold whole series: a column that changes within one cannot define it.
        raise ConfigError(
            f"train.sample.stratify: {', '.join(map(repr, varying))} varies within a series "
            f"({' x '.join(SERIES_KEYS)}): stratify by columns that describe a whole series"
        )
    return table.drop(f"_n_{c}" for c in attributes)


def choose_series(table: pl.DataFrame, params: SampleParams) -> pl.DataFrame | None:
    """The sampled series' keys, or None when every series fits ``params.max_rows`` (or it is 0).

    Series are drawn in one seeded order: within a stratum at random, across strata by the share
    of its stratum's rows already drawn before each series (so strata fill at the same rate, and
    every stratum's first series comes first). The sample is the longest prefix of that order
    within ``max_rows``; a smaller budget therefore gives a subset of a larger one.
    """
    total = int(table[ROWS].sum())
    if params.max_rows == 0 or total <= params.max_rows:
        return None
    strata = params.stratify or [ALL]
    random = np.random.default_rng(params.seed).random(table.height)  # the table is key-sorted
    drawn_before = pl.col(ROWS).cum_sum() - pl.col(ROWS)
    ordered = (
        table.with_columns(pl.lit(0).alias(ALL), pl.Series(RANDOM, random))
        .sort(*strata, RANDOM)
        .with_columns((drawn_before / pl.col(ROWS).sum()).over(strata).alias(ORDER))
        .sort(ORDER, RANDOM, *SERIES_KEYS)
    )
    chosen = ordered.filter(pl.col(ROWS).cum_sum() <= params.max_rows)
    if chosen.is_empty():
        raise ConfigError(
            f"train.sample.max_rows={params.max_rows:,} is less than the first sampled series' "
            f"{ordered[ROWS][0]:,} training rows: raise it, or set 0 to train on every row"
        )
    return chosen.select(SERIES_KEYS)


def keep(series: pl.DataFrame) -> pl.Expr:
    """A row filter for the given series; polars applies it while reading a Parquet scan."""
    key = pl.struct(SERIES_KEYS)
    return key.is_in(series.select(key).to_series().implode())
