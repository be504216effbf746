"""Data, features, training and evaluation of the skeleton: a linear model on tabular rows.

Replace each function with your own; keep their inputs and outputs (the DVC stages and the
data contracts in policies/data/ read them), or change dvc.yaml and the contracts with them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

SEGMENTS = ("east", "north", "south", "west")
NUMERIC = ("x1", "x2", "x3")
TARGET = "target"


def generate(rows: int, seed: int) -> pl.DataFrame:
    """A synthetic table: an id, a segment, three numeric features and a positive target."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(SEGMENTS, size=rows)
    x1, x2, x3 = rng.normal(0, 1, rows), rng.uniform(0, 10, rows), rng.normal(5, 2, rows)
    effect = np.select([segment == s for s in SEGMENTS], [0.0, 4.0, -2.0, 2.0])
    target = 40 + 6 * x1 - 1.5 * x2 + 2 * x3 + effect + rng.normal(0, 3, rows)
    return pl.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "segment": segment,
            "x1": x1,
            "x2": x2,
            "x3": x3,
            TARGET: np.clip(target, 0, None),
        }
    )


def features(raw: pl.DataFrame, holdout_share: float) -> pl.DataFrame:
    """One-hot segments and a holdout flag (the last share of ids is held out)."""
    cutoff = int(raw.height * (1 - holdout_share))
    return raw.with_columns(
        *[(pl.col("segment") == s).cast(pl.Float64).alias(f"segment_{s}") for s in SEGMENTS],
        (pl.col("id") >= cutoff).alias("holdout"),
    )


def columns() -> list[str]:
    """The model's input columns, in order."""
    return [*NUMERIC, *(f"segment_{s}" for s in SEGMENTS)]


def design(frame: pl.DataFrame) -> np.ndarray:
    """The input matrix of ``frame`` (columns of :func:`columns`)."""
    return frame.select(columns()).to_numpy().astype(np.float64)


def fit(frame: pl.DataFrame, ridge: float) -> dict[str, Any]:
    """Ridge regression on the training rows; the model is its columns and coefficients."""
    train = frame.filter(~pl.col("holdout"))
    x, y = design(train), train[TARGET].to_numpy()
    coef = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    return {"columns": columns(), "coef": coef.tolist()}


def predict(model: dict[str, Any], frame: pl.DataFrame) -> np.ndarray:
    """Predictions for ``frame``, never negative."""
    return np.clip(design(frame) @ np.asarray(model["coef"]), 0, None)


def scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """WAPE, MAE and bias (relative) of ``predicted`` against ``actual``."""
    total = float(np.abs(actual).sum()) or 1.0
    return {
        "wape": float(np.abs(actual - predicted).sum()) / total,
        "mae": float(np.abs(actual - predicted).mean()),
        "bias": float((predicted - actual).sum()) / total,
    }


def evaluate(model: dict[str, Any], frame: pl.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """Holdout metrics of the model and of the mean baseline; per segment too."""
    train, holdout = frame.filter(~pl.col("holdout")), frame.filter(pl.col("holdout"))
    mean = float(train[TARGET].mean())  # type: ignore[arg-type]
    actual = holdout[TARGET].to_numpy()
    model_scores = scores(actual, predict(model, holdout))
    baseline = scores(actual, np.full(actual.shape, mean))
    metrics = {
        "rows": holdout.height,
        "model": model_scores,
        "baseline": baseline,
        "skill": {"wape": 1 - model_scores["wape"] / baseline["wape"]},
    }
    slices: dict[str, Any] = {"segment": {}}
    for segment in SEGMENTS:
        part = holdout.filter(pl.col("segment") == segment)
        slices["segment"][segment] = {
            "model": scores(part[TARGET].to_numpy(), predict(model, part))
        }
    return metrics, slices


def write_json(path: Path, value: Any) -> None:
    """Small JSON files (metrics, the model) kept readable in git diffs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")
