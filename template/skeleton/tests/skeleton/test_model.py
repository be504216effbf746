"""The model's stages on a small table: each would fail if its stage broke."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from skeleton import model


def test_generate_is_deterministic_and_valid() -> None:
    first, second = model.generate(500, seed=1), model.generate(500, seed=1)
    assert first.equals(second)
    assert set(first["segment"].unique()) <= set(model.SEGMENTS)
    assert first["target"].min() >= 0


def test_features_one_hot_and_holdout() -> None:
    frame = model.features(model.generate(100, seed=2), holdout_share=0.2)
    one_hot = frame.select([f"segment_{s}" for s in model.SEGMENTS]).to_numpy()
    assert (one_hot.sum(axis=1) == 1).all()
    assert frame["holdout"].sum() == 20
    assert frame.filter(pl.col("holdout"))["id"].min() == 80


def test_trained_model_beats_the_mean_baseline() -> None:
    frame = model.features(model.generate(3000, seed=3), holdout_share=0.2)
    metrics, slices = model.evaluate(model.fit(frame, ridge=1.0), frame)
    assert metrics["model"]["wape"] < 0.15
    assert metrics["skill"]["wape"] > 0.3
    assert set(slices["segment"]) == set(model.SEGMENTS)


def test_predictions_are_never_negative() -> None:
    frame = model.features(model.generate(50, seed=4), holdout_share=0.0)
    fitted = {"columns": model.columns(), "coef": [-100.0] * len(model.columns())}
    assert (model.predict(fitted, frame) == 0).all()


def test_stages_run_as_commands(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "data: {rows: 2000, seed: 5}\ntrain: {ridge: 1.0}\nevaluate: {holdout_share: 0.2}\n"
    )
    run = [sys.executable, "-m", "skeleton", "--params", str(params)]
    raw, feats = tmp_path / "raw.parquet", tmp_path / "features.parquet"
    mdl, metrics = tmp_path / "model.json", tmp_path / "metrics.json"
    for stage in (
        ["ingest", "--out", raw],
        ["prepare", "--raw", raw, "--out", feats],
        ["train", "--features", feats, "--model", mdl],
        [
            "evaluate",
            "--features",
            feats,
            "--model",
            mdl,
            "--metrics",
            metrics,
            "--slices",
            tmp_path / "slices.json",
        ],
    ):
        subprocess.run([*run, *map(str, stage)], check=True, capture_output=True)
    assert json.loads(metrics.read_text())["model"]["wape"] < 0.15
    assert len(json.loads(mdl.read_text())["coef"]) == len(model.columns())


def test_a_missing_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("evaluate: {holdout_share: 0.2}\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "skeleton",
            "--params",
            str(tmp_path / "params.yaml"),
            "prepare",
            "--raw",
            str(tmp_path / "missing.parquet"),
            "--out",
            str(tmp_path / "f.parquet"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "f.parquet").exists()


@pytest.mark.parametrize("bad", [{"segment": "mars", "x1": 0, "x2": 0, "x3": 0}])
def test_service_refuses_a_bad_row(bad: dict[str, object]) -> None:
    from pydantic import ValidationError

    from skeleton.service import Row

    with pytest.raises(ValidationError):
        Row(**bad)
    assert np.isfinite(Row(segment="east", x1=1, x2=2, x3=3).x1)


def test_alert_rules_and_dashboard_read_metrics_the_service_exports() -> None:
    from conveyor.serve import metrics

    root = Path(__file__).resolve().parents[2]
    service = (root / "src/skeleton/service.py").read_text()
    assert "service_metrics(" in service  # the service exports conveyor's metrics
    source = Path(metrics.__file__).read_text()
    exported = {
        f"{metrics.PREFIX}_{name}" for name in re.findall(r'name=f"\{PREFIX\}_(\w+)"', source)
    }
    assert exported
    for path in (
        "deploy/monitoring/prometheus-rule.yaml",
        "deploy/monitoring/grafana-dashboard.json",
    ):
        read = set(
            re.findall(
                r"\b(conveyor_\w+?)(?:_sum|_count|_bucket|_total)?\b", (root / path).read_text()
            )
        )
        assert read, path
        assert read <= exported, (path, read - exported)
    # ... and the endpoint the rules select is the service's API.
    assert 'endpoint="/skeleton"' in (root / "deploy/monitoring/prometheus-rule.yaml").read_text()
    assert "    def skeleton(" in service
