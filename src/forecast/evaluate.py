"""The `evaluate` stage: score the model and a seasonal-naive baseline on the time-based holdout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from conveyor.errors import DataError
from conveyor.files import atomic_path, write_json
from forecast.features import parquet_read_errors, require_feature_table, scan_data
from forecast.holdout import split
from forecast.metrics import METRIC_NAMES, error_metrics, rounded, skill
from forecast.model import load_booster, predict
from forecast.params import EvaluateParams
from forecast.schema import SERIES_KEYS, TARGET

MODEL, BASELINE = "model", "seasonal_naive"
SEASON_DAYS = 7


def seasonal_naive(history: pl.DataFrame, holdout: pl.DataFrame, start: dt.date) -> pl.Series:
    """Each holdout day gets the sales of the same weekday in the last week before ``start``.

    This is the forecast a planner could make on the day before the holdout, with no model.
    Series without that week of history get 0.
    """
    last_week = history.filter(pl.col("date") >= start - dt.timedelta(days=SEASON_DAYS)).select(
        *SERIES_KEYS,
        ((pl.col("date") - pl.lit(start)).dt.total_days() % SEASON_DAYS).alias("_phase"),
        pl.col(TARGET).cast(pl.Float64).alias(BASELINE),
    )
    phased = holdout.select(
        *SERIES_KEYS,
        ((pl.col("date") - pl.lit(start)).dt.total_days() % SEASON_DAYS).alias("_phase"),
    )
    joined = phased.join(last_week, on=[*SERIES_KEYS, "_phase"], how="left", maintain_order="left")
    return joined[BASELINE].fill_null(0.0)


def score(scored: pl.DataFrame, by: str | None = None) -> dict[str, Any]:
    """Metrics of the model, the baseline and the model's skill over it, overall or per ``by``."""
    aggregations = [
        pl.len().alias("rows"),
        *(e.name.prefix(f"{MODEL}.") for e in error_metrics(TARGET, MODEL)),
        *(e.name.prefix(f"{BASELINE}.") for e in error_metrics(TARGET, BASELINE)),
    ]
    rows = scored.group_by(by).agg(aggregations).sort(by) if by else scored.select(aggregations)
    result = {}
    for row in rows.iter_rows(named=True):
        model = {m: row[f"{MODEL}.{m}"] for m in METRIC_NAMES}
        baseline = {m: row[f"{BASELINE}.{m}"] for m in METRIC_NAMES}
        result[row[by] if by else "all"] = {
            "rows": row["rows"],
            MODEL: rounded(model),
            BASELINE: rounded(baseline),
            "skill": rounded(skill(model, baseline)),
        }
    return result


def run(
    features_path: Path,
    model_path: Path,
    params: EvaluateParams,
    metrics_out: Path,
    slices_out: Path,
    plots_dir: Path,
) -> dict[str, Any]:
    """Score the holdout; write overall and per-slice metrics and the plot tables."""
    with parquet_read_errors(str(features_path)):
        features = scan_data(features_path).collect()
    missing = [s for s in params.slices if s not in features.columns]
    if missing:
        raise DataError(f"evaluate.slices: no column {', '.join(missing)} in {features_path}")
    booster = load_booster(model_path)
    needed = ("date", *SERIES_KEYS, TARGET, *booster.feature_name())
    require_feature_table(features.columns, needed, str(features_path))
    history, holdout = split(features, params.holdout_days)
    start = holdout["date"].min()
    scored = holdout.with_columns(
        pl.Series(MODEL, predict(booster, holdout)),
        seasonal_naive(history, holdout, start).alias(BASELINE),
    )
    metrics = score(scored)["all"] | {
        "holdout": {
            "start": str(start),
            "end": str(holdout["date"].max()),
            "days": params.holdout_days,
        }
    }
    slices = {column: score(scored, by=column) for column in params.slices}
    write_json(metrics_out, metrics)
    write_json(slices_out, slices)
    _write_plot_tables(scored, slices, plots_dir)
    return metrics


def _write_plot_tables(scored: pl.DataFrame, slices: dict[str, Any], plots_dir: Path) -> None:
    daily = (
        scored.group_by("date")
        .agg(pl.col(TARGET).sum().alias("actual"), pl.col(MODEL, BASELINE).sum().round(1))
        .sort("date")
        .rename({MODEL: "forecast"})
    )
    by_slice = pl.DataFrame(
        [
            {
                "slice": f"{column}={value}",
                "model_wape": m[MODEL]["wape"],
                "seasonal_naive_wape": m[BASELINE]["wape"],
            }
            for column, values in slices.items()
            for value, m in values.items()
        ]
    )
    for name, table in (("forecast_vs_actual.csv", daily), ("error_by_slice.csv", by_slice)):
        with atomic_path(plots_dir / name) as tmp:
            table.write_csv(tmp)
