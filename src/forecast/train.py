"""The `train` stage: one global LightGBM model over every club and item.

LightGBM is the usual choice for retail demand (it won the M5 accuracy competition's top places):
it handles categorical ids natively, mixes them with lags, price and calendar, and trains on
millions of rows in seconds on two cores. A Tweedie objective fits zero-heavy unit counts.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import polars as pl

from conveyor.files import atomic_path
from forecast.features import (
    CATEGORICAL,
    feature_columns,
    parquet_read_errors,
    require_feature_table,
    scan_data,
)
from forecast.holdout import holdout_start, require_training_rows
from forecast.model import to_model_frame
from forecast.params import PipelineParams
from forecast.sample import check_stratify, choose_series, keep, series_table
from forecast.schema import TARGET


def lightgbm_params(params: PipelineParams) -> dict[str, object]:
    """LightGBM's parameter dict, deterministic for a given seed and thread count."""
    train = params.train
    return {
        "objective": train.objective,
        "tweedie_variance_power": train.tweedie_variance_power,
        "learning_rate": train.learning_rate,
        "num_leaves": train.num_leaves,
        "min_data_in_leaf": train.min_data_in_leaf,
        "feature_fraction": train.feature_fraction,
        "bagging_fraction": train.bagging_fraction,
        "bagging_freq": train.bagging_freq,
        "lambda_l2": train.lambda_l2,
        "seed": train.seed,
        "num_threads": train.num_threads,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def fit(training: pl.DataFrame, params: PipelineParams) -> lgb.Booster:
    """Train the booster on ``training`` rows (keys, target and feature columns)."""
    columns = feature_columns(params.features)
    dataset = lgb.Dataset(
        to_model_frame(training, columns),
        label=training[TARGET].to_numpy(),
        categorical_feature=[c for c in CATEGORICAL if c in columns],
        free_raw_data=True,
    )
    return lgb.train(lightgbm_params(params), dataset, num_boost_round=params.train.num_boost_round)


def importance_table(booster: lgb.Booster) -> pl.DataFrame:
    """Gain importance per feature, largest first (a DVC plot)."""
    return pl.DataFrame(
        {
            "feature": booster.feature_name(),
            "importance": booster.feature_importance(importance_type="gain").round(1),
        }
    ).sort("importance", descending=True)


def training_rows(features_path: Path, params: PipelineParams) -> pl.DataFrame:
    """The rows the model trains on: before the holdout, of the sampled series (train.sample)."""
    # Read only the rows and columns training needs: at 10M rows this halves peak memory.
    features = scan_data(features_path)
    needed = ("date", TARGET, *feature_columns(params.features))
    require_feature_table(features.collect_schema().names(), needed, str(features_path))
    start = holdout_start(features, params.evaluate.holdout_days)
    before = features.filter(pl.col("date") < start)
    sample = params.train.sample
    check_stratify(features, sample.stratify)  # a wrong column fails even while unused
    if sample.max_rows:  # 0: every row, and no extra pass over the file
        chosen = choose_series(series_table(before, sample.stratify), sample)
        if chosen is not None:
            before = before.filter(keep(chosen))  # applied while the file is read
    training = before.select(TARGET, *feature_columns(params.features)).collect()
    require_training_rows(training.height, start, params.evaluate.holdout_days)
    return training


def run(features_path: Path, params: PipelineParams, model_out: Path, importance_out: Path) -> int:
    """Train on the rows before the holdout (or their sample); write the model and importances."""
    with parquet_read_errors(str(features_path)):
        training = training_rows(features_path, params)
    booster = fit(training, params)
    with atomic_path(model_out) as tmp:
        booster.save_model(str(tmp))
    with atomic_path(importance_out) as tmp:
        importance_table(booster).write_csv(tmp)
    return training.height
