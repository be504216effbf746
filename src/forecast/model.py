"""The model file: a LightGBM booster trained on pandas categoricals, and how to feed it."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl

from forecast.features import CATEGORICAL


def to_model_frame(frame: pl.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The feature columns as pandas, categoricals as ``category`` (LightGBM maps them itself)."""
    pandas = frame.select(columns).to_pandas()
    for name in CATEGORICAL:
        if name in pandas:
            pandas[name] = pandas[name].astype("category")
    return pandas


def load_booster(path: Path) -> lgb.Booster:
    """Load a model saved by the train stage."""
    return lgb.Booster(model_file=str(path))


def predict(booster: lgb.Booster, frame: pl.DataFrame) -> np.ndarray:
    """Non-negative unit forecasts for each row of ``frame`` (which holds the feature columns)."""
    inputs = to_model_frame(frame, booster.feature_name())
    return np.clip(booster.predict(inputs, num_threads=0), 0, None)
