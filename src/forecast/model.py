"""The model file: a LightGBM booster trained on pandas categoricals, and how to feed it."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Encoder:
    """Turns feature columns into the float matrix LightGBM predicts from, without pandas.

    Categorical columns become the codes LightGBM learned from the training categories (stored in
    the model file as ``pandas_categorical``); an unseen value becomes NaN, as pandas' -1 code does.
    """

    columns: tuple[str, ...]
    codes: dict[str, dict[str, int]]

    @classmethod
    def for_booster(cls, booster: lgb.Booster) -> Encoder:
        """The encoder matching ``booster``'s features and categories."""
        columns = tuple(booster.feature_name())
        categorical = [c for c in columns if c in CATEGORICAL]  # in column order, as LightGBM
        levels = booster.pandas_categorical or []
        codes = {
            column: {str(value): code for code, value in enumerate(values)}
            for column, values in zip(categorical, levels, strict=True)
        }
        return cls(columns, codes)

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        """Rows of ``frame`` as a float64 matrix in the model's column order."""
        return frame.select(
            pl.col(c).replace_strict(self.codes[c], default=None, return_dtype=pl.Float64)
            if c in self.codes
            else pl.col(c).cast(pl.Float64)
            for c in self.columns
        ).to_numpy()


def predict(booster: lgb.Booster, frame: pl.DataFrame) -> np.ndarray:
    """Non-negative unit forecasts for each row of ``frame`` (which holds the feature columns)."""
    return predict_matrix(booster, Encoder.for_booster(booster).matrix(frame))


def predict_matrix(booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """Non-negative unit forecasts for rows already encoded by :class:`Encoder`."""
    # One thread for small inputs: thread start-up costs more than it saves below ~10k rows.
    threads = 1 if len(matrix) < 10_000 else 0
    return np.clip(booster.predict(matrix, num_threads=threads), 0, None)
