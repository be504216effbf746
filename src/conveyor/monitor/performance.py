"""Live performance: the configured metric (params.yaml `monitoring.performance`) on the rows of
the current window that carry an actual, against the model's evaluated value of the same metric.

Regression: WAPE, MAE, RMSE. Binary classification: accuracy (labels, or a score and a
threshold), log loss and ROC AUC (the prediction column is the positive class's probability or
score). Written with numpy and scipy, the monitor extra's own libraries; tests hold each metric
to published values and to its textbook definition.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from conveyor.errors import ConfigError, DataError
from conveyor.metric_files import read_current
from conveyor.monitor.config import METRIC_LABELS, MonitoringParams, Performance
from conveyor.monitor.window import Window

__all__ = ["accuracy", "live", "log_loss", "mae", "rmse", "roc_auc", "wape"]

HIGHER_IS_BETTER = frozenset({"accuracy", "auc"})
# log loss of a probability of exactly 0 or 1 for the wrong class is infinite: probabilities are
# clipped to [EPS, 1 - EPS], float64's machine epsilon (scikit-learn's choice since 1.5).
EPS = float(np.finfo(np.float64).eps)

Array = np.ndarray


def wape(actual: Array, predicted: Array) -> float | None:
    """Sum of absolute errors over the sum of absolute actuals; None when every actual is 0."""
    total = float(np.abs(actual).sum())
    return None if total == 0 else float(np.abs(predicted - actual).sum()) / total


def mae(actual: Array, predicted: Array) -> float | None:
    """Mean absolute error."""
    return float(np.abs(predicted - actual).mean()) if len(actual) else None


def rmse(actual: Array, predicted: Array) -> float | None:
    """Root mean squared error."""
    return float(np.sqrt(np.square(predicted - actual).mean())) if len(actual) else None


def accuracy(correct: Array) -> float | None:
    """Share of rows predicted right."""
    return float(correct.mean()) if len(correct) else None


def log_loss(positive: Array, probability: Array) -> float | None:
    """Binary cross-entropy (natural log) of the positive class's probability."""
    if not len(positive):
        return None
    p = np.clip(probability, EPS, 1 - EPS)
    return float(-np.mean(np.where(positive, np.log(p), np.log1p(-p))))


def roc_auc(positive: Array, score: Array) -> float | None:
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative, ties counting one half (Mann-Whitney U over mid-ranks); None without both classes."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    from scipy.stats import rankdata  # ~2 s to load: only when scoring

    ranks = rankdata(score)  # ties get their average rank
    u = float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


REGRESSION: dict[str, Callable[[Array, Array], float | None]] = {
    "wape": wape,
    "mae": mae,
    "rmse": rmse,
}


def evaluated_value(performance: Performance, root: Path) -> float:
    """The model's evaluated value of the metric (FILE:key); a usage error when it is missing."""
    file, key = performance.evaluated.split(":", 1)
    metrics = read_current(root / file)
    if metrics is None:
        raise ConfigError(f"monitoring.performance.evaluated: {file}: file not found")
    value = metrics.get(key)
    if value is None or not np.isfinite(value) or value <= 0:
        raise ConfigError(
            f"monitoring.performance.evaluated: {file} has no positive number at {key!r}"
        )
    return float(value)


def live(
    cur: Window, params: MonitoringParams, root: Path, notes: list[str]
) -> dict[str, object] | None:
    """The live metric against the evaluated one (with the verdict), or None with a note saying
    why it was not measured. Bad columns are a one-line DataError."""
    perf, actual_col, predicted_col = params.performance, params.actual, params.prediction
    label = METRIC_LABELS[perf.metric] if perf else "performance"
    absent = [c for c in (actual_col, predicted_col) if c is not None and c not in cur.schema]
    if perf is None or actual_col is None or absent:
        what = f"no {' or '.join(map(repr, absent))} column" if absent else "no actual configured"
        notes.append(f"live {label} not measured: {what} in the current window")
        return None
    evaluated = evaluated_value(perf, root)
    pairs = cur.pairs(actual_col, predicted_col)
    value, rows = _measure(perf, pairs, actual_col, predicted_col)
    if value is None:
        notes.append(f"live {label} not measured: {_why_not(perf.metric)} in the current window")
        return None
    higher = perf.metric in HIGHER_IS_BETTER
    ratio = params.thresholds.metric_ratio
    limit = evaluated / ratio if higher else evaluated * ratio
    return {
        "metric": perf.metric,
        "higher_is_better": higher,
        "rows": rows,
        "live": value,
        "evaluated": evaluated,
        "ratio": value / evaluated,
        "limit": limit,
        "degraded": value < limit if higher else value > limit,
    }


def _why_not(metric: str) -> str:
    if metric == "wape":
        return "no non-zero actuals"
    if metric == "auc":
        return "actuals of one class only"
    return "no rows with both actual and prediction"


def _measure(
    perf: Performance, pairs: pl.DataFrame, actual_col: str, predicted_col: str
) -> tuple[float | None, int]:
    """The metric's value and the number of rows it was measured on."""
    actual, predicted = pairs[actual_col], pairs[predicted_col]
    if perf.metric in REGRESSION:
        a = _numbers(actual, actual_col, perf.metric)
        p = _numbers(predicted, predicted_col, perf.metric)
        keep = np.isfinite(a) & np.isfinite(p)
        return REGRESSION[perf.metric](a[keep], p[keep]), int(keep.sum())
    if perf.metric == "accuracy" and perf.threshold is None:
        return accuracy(_same_labels(actual, predicted)), len(pairs)
    positive = _positive(actual, actual_col, perf)
    score = _numbers(predicted, predicted_col, perf.metric)
    keep = np.isfinite(score)
    positive, score = positive[keep], score[keep]
    if perf.metric == "accuracy":
        return accuracy((score >= float(perf.threshold or 0)) == positive), int(keep.sum())
    if perf.metric == "log_loss":
        if len(score) and (score.min() < 0 or score.max() > 1):
            raise DataError(
                f"monitoring.performance.metric log_loss: {predicted_col!r} must hold "
                f"probabilities within 0..1, found {score.min():g}..{score.max():g}"
            )
        return log_loss(positive, score), int(keep.sum())
    return roc_auc(positive, score), int(keep.sum())


def _numbers(series: pl.Series, column: str, metric: str) -> Array:
    if not (series.dtype.is_numeric() or series.dtype == pl.Boolean):
        raise DataError(
            f"monitoring.performance.metric {metric}: column {column!r} must be numeric, "
            f"it is {series.dtype}"
        )
    return series.cast(pl.Float64).to_numpy()


def _positive(actual: pl.Series, column: str, perf: Performance) -> Array:
    """Whether each actual is the positive class; a binary metric refuses a third class."""
    numeric = actual.dtype.is_numeric() or actual.dtype == pl.Boolean
    if numeric and isinstance(perf.positive, str):
        raise DataError(
            f"monitoring.performance.positive {perf.positive!r} is text but {column!r} is "
            f"{actual.dtype}: give the positive class as a number"
        )
    values = actual.cast(pl.Float64) if numeric else actual.cast(pl.String)
    classes = values.unique()
    if perf.metric != "accuracy" and len(classes) > 2:
        raise DataError(
            f"monitoring.performance.metric {perf.metric} is binary but {column!r} holds "
            f"{len(classes)} classes"
        )
    target = float(perf.positive) if numeric else str(perf.positive)
    positive = (values == target).to_numpy()
    if len(classes) == 2 and not positive.any():
        # Two classes and neither is the configured one: a misnamed class, not a quiet window.
        raise DataError(
            f"monitoring.performance.positive {perf.positive!r} is neither class of {column!r} "
            f"({', '.join(sorted(map(str, classes.to_list())))})"
        )
    return positive


def _same_labels(actual: pl.Series, predicted: pl.Series) -> Array:
    """Whether the predicted label equals the actual one, row by row: as numbers when both
    columns are numeric (1 and 1.0 agree), else as text."""
    both_numeric = all(s.dtype.is_numeric() or s.dtype == pl.Boolean for s in (actual, predicted))
    kind = pl.Float64 if both_numeric else pl.String
    return (actual.cast(kind) == predicted.cast(kind)).to_numpy()
