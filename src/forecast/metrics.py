"""Forecast error metrics, computed on totals so they are exact and cheap on millions of rows."""

from __future__ import annotations

import math

import polars as pl

METRIC_NAMES = ("wape", "mae", "rmse", "bias")
SKILL_METRICS = ("wape", "mae", "rmse")


def error_metrics(actual: str, forecast: str) -> list[pl.Expr]:
    """Polars aggregations: WAPE, MAE, RMSE, and bias = (sum forecast - sum actual) / sum actual."""
    error = pl.col(forecast) - pl.col(actual)
    total = pl.col(actual).sum()
    return [
        (error.abs().sum() / total).alias("wape"),
        error.abs().mean().alias("mae"),
        (error**2).mean().sqrt().alias("rmse"),
        (error.sum() / total).alias("bias"),
    ]


def skill(model: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """1 - model error / reference error per metric: > 0 means the model beats the reference."""
    return {
        name: _finite(1 - model[name] / reference[name]) if reference[name] else math.nan
        for name in SKILL_METRICS
    }


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan


def rounded(values: dict[str, float], digits: int = 6) -> dict[str, float]:
    """Round for small, stable JSON diffs in pull requests."""
    return {key: round(float(value), digits) for key, value in values.items()}
