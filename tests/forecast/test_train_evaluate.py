"""Training and evaluation: metric maths, the seasonal-naive baseline, and a model that learns."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from forecast import evaluate, train
from forecast.features import build_features
from forecast.holdout import split
from forecast.metrics import error_metrics, skill
from forecast.model import load_booster, predict


def test_error_metrics_on_a_hand_example():
    frame = pl.DataFrame({"y": [10.0, 0.0, 30.0], "f": [12.0, 1.0, 24.0]})
    row = frame.select(error_metrics("y", "f")).row(0, named=True)
    assert row["wape"] == pytest.approx(9 / 40)
    assert row["mae"] == pytest.approx(3.0)
    assert row["rmse"] == pytest.approx(((4 + 1 + 36) / 3) ** 0.5)
    assert row["bias"] == pytest.approx(-3 / 40)


def test_skill_is_relative_improvement():
    assert skill({"wape": 0.3, "mae": 2, "rmse": 4}, {"wape": 0.6, "mae": 4, "rmse": 4}) == {
        "wape": pytest.approx(0.5),
        "mae": pytest.approx(0.5),
        "rmse": pytest.approx(0.0),
    }


def test_seasonal_naive_repeats_the_last_week():
    start = dt.date(2024, 1, 8)  # a Monday
    days = [start + dt.timedelta(days=k) for k in range(-14, 14)]
    frame = pl.DataFrame(
        {
            "club_id": ["c"] * len(days),
            "item_id": ["i"] * len(days),
            "date": days,
            "units_sold": list(range(len(days))),
        }
    )
    history, holdout = frame.filter(pl.col("date") < start), frame.filter(pl.col("date") >= start)
    naive = evaluate.seasonal_naive(history, holdout, start).to_list()
    last_week = list(range(7, 14))  # the units of the 7 days before `start`
    assert naive == [float(v) for v in last_week * 2]


def test_holdout_is_the_last_days(small_sales, small_params):
    features = build_features(small_sales, small_params.features, "US")
    history, holdout = split(features, 28)
    assert holdout["date"].n_unique() == 28
    assert history["date"].max() == holdout["date"].min() - dt.timedelta(days=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_sales, small_params):
    work = tmp_path_factory.mktemp("train")
    features = work / "features.parquet"
    build_features(small_sales, small_params.features, "US").write_parquet(features)
    model = work / "model.txt"
    rows = train.run(features, small_params, model, work / "importance.csv")
    return work, features, model, rows


def test_training_is_deterministic(trained, small_params):
    work, features, model, _ = trained
    again = work / "again.txt"
    train.run(features, small_params, again, work / "importance2.csv")
    assert again.read_bytes() == model.read_bytes()


def test_model_uses_history_and_promotions(trained):
    work, *_ = trained
    importance = pl.read_csv(work / "importance.csv")
    top = importance["feature"].head(8).to_list()
    assert any(name.startswith(("lag_", "rolling_mean_")) for name in top)
    assert importance.filter(pl.col("feature") == "promo")["importance"].item() > 0


def test_evaluate_writes_metrics_that_beat_the_baseline(trained, small_params):
    work, features, model, _ = trained
    metrics = evaluate.run(
        features, model, small_params.evaluate, work / "metrics.json", work / "slices.json", work
    )
    on_disk = json.loads((work / "metrics.json").read_text())
    assert on_disk == metrics
    for forecaster in ("model", "seasonal_naive"):
        assert set(on_disk[forecaster]) == {"wape", "mae", "rmse", "bias"}
    assert on_disk["model"]["wape"] < on_disk["seasonal_naive"]["wape"]
    assert on_disk["skill"]["wape"] > 0
    slices = json.loads((work / "slices.json").read_text())
    assert set(slices) == {"region", "category"}
    assert set(slices["region"]) == {"northeast", "southeast", "midwest"}  # 3 clubs
    assert sum(s["rows"] for s in slices["category"].values()) == on_disk["rows"]
    plot = pl.read_csv(work / "forecast_vs_actual.csv")
    assert plot.columns == ["date", "actual", "forecast", "seasonal_naive"]
    assert plot.height == small_params.evaluate.holdout_days


def test_predictions_are_non_negative(trained):
    _, features, model, _ = trained
    frame = pl.read_parquet(features).tail(500)
    assert (predict(load_booster(model), frame) >= 0).all()


def test_encoder_feeds_lightgbm_what_pandas_would(trained):
    """The pandas-free input path gives the same predictions as LightGBM's own pandas path,
    unseen categories included (both treat them as missing)."""
    from forecast.model import to_model_frame

    _, features, model, _ = trained
    booster = load_booster(model)
    frame = pl.read_parquet(features).tail(2000)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 5)
        .then(pl.lit("club_new"))
        .otherwise("club_id")
        .alias("club_id")
    )
    via_pandas = booster.predict(to_model_frame(frame, booster.feature_name()))
    assert predict(booster, frame) == pytest.approx(via_pandas.clip(0), rel=1e-12)
