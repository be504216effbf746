"""The live metric of `monitor drift` is the one params.yaml names: each metric against published
values and its definition, a classifier's window end to end, and bad configuration or columns as
one line with exit 2 and nothing written."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from conveyor.cli import main
from conveyor.errors import ConfigError, DataError
from conveyor.monitor import performance
from conveyor.monitor.config import METRIC_LABELS, Metric, load_monitoring

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

ROWS = 2_000


# Published examples (scikit-learn's documentation of each function), computed by hand below.
def test_regression_metrics_match_published_values() -> None:
    actual, predicted = np.array([3, -0.5, 2, 7]), np.array([2.5, 0.0, 2, 8])
    assert performance.mae(actual, predicted) == pytest.approx(0.5)
    assert performance.rmse(actual, predicted) == pytest.approx(np.sqrt(0.375))
    assert performance.wape(actual, predicted) == pytest.approx(2.0 / 12.5)
    assert performance.wape(np.zeros(3), np.ones(3)) is None  # no volume: no WAPE


def test_classification_metrics_match_published_values() -> None:
    # roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    positive = np.array([False, False, True, True])
    assert performance.roc_auc(positive, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    # log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]])
    # == 0.21616...: the probability of "spam" is the second column.
    spam = np.array([True, False, False, True])
    assert performance.log_loss(spam, np.array([0.9, 0.1, 0.2, 0.65])) == pytest.approx(
        0.216162, abs=1e-6
    )
    # accuracy_score([0, 2, 1, 3], [0, 1, 2, 3]) == 0.5
    assert performance.accuracy(np.array([0, 2, 1, 3]) == np.array([0, 1, 2, 3])) == 0.5
    # Certain and wrong: clipped, so large but finite.
    assert 30 < performance.log_loss(np.array([True]), np.array([0.0])) < 40
    assert performance.roc_auc(np.array([True, True]), np.array([0.2, 0.3])) is None


def test_auc_is_the_share_of_correctly_ordered_pairs_with_ties_as_halves() -> None:
    """The definition, pair by pair, on scores with many ties."""
    rng = np.random.default_rng(5)
    positive = rng.random(300) < 0.3
    score = np.round(rng.random(300) + positive * 0.3, 1)  # rounded: ties everywhere
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for p, n in itertools.product(score[positive], score[~positive])
    ]
    assert performance.roc_auc(positive, score) == pytest.approx(np.mean(pairs))


def _params(tmp_path: Path, performance_section: dict[str, object] | None, **extra: object) -> Path:
    monitoring: dict[str, object] = {
        "features": {"tenure": "numeric"},
        "prediction": "score",
        "actual": "churned",
        "performance": performance_section,
        **extra,
    }
    if performance_section is None:
        del monitoring["performance"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"monitoring": monitoring}), encoding="utf-8")
    return path


def _window(
    path: Path, score: object, churned: object, replace: dict[str, object] | None = None
) -> Path:
    """A window of ``tenure``, ``score`` and ``churned``; ``replace`` sets a column to one value."""
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({"tenure": rng.normal(24, 6, len(score)), "score": score})
    frame = frame.with_columns(pl.Series("churned", churned))
    frame = frame.with_columns(pl.lit(v).alias(k) for k, v in (replace or {}).items())
    frame.write_parquet(path)
    return path


@pytest.fixture
def churn(tmp_path: Path) -> dict[str, Path]:
    """A classifier's reference and two current windows: one as good as evaluated, one where
    the scores no longer tell churners from the rest."""
    rng = np.random.default_rng(0)
    churned = (rng.random(ROWS) < 0.3).astype(np.int64)
    good = np.clip(0.3 + 0.35 * (churned - 0.3) + rng.normal(0, 0.15, ROWS), 0.001, 0.999)
    noise = rng.random(ROWS)
    (tmp_path / "metrics").mkdir()
    evaluated = {"auc": 0.9, "accuracy": 0.85, "log_loss": 0.35}
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps({"test": evaluated}))
    return {
        "root": tmp_path,
        "reference": _window(tmp_path / "reference.parquet", good, churned),
        "good": _window(tmp_path / "good.parquet", good, churned),
        "noise": _window(tmp_path / "noise.parquet", noise, churned),
    }


def _drift(windows: dict[str, Path], current: str, params: Path) -> int:
    return main(
        [
            "monitor", "drift", "--reference", str(windows["reference"]),
            "--current", str(windows[current]), "--out", str(windows["root"] / "out"),
            "--params", str(params), "--root", str(windows["root"]), "--exit-zero",
        ]
    )  # fmt: skip


def _performance(windows: dict[str, Path]) -> dict[str, object]:
    report = json.loads((windows["root"] / "out" / "drift.json").read_text())
    return report["performance"]


def _expected(windows: dict[str, Path], current: str, metric: Metric) -> float:
    frame = pl.read_parquet(windows[current])
    positive = frame["churned"].to_numpy() == 1
    score = frame["score"].to_numpy()
    if metric == "auc":
        return performance.roc_auc(positive, score) or 0.0
    if metric == "log_loss":
        return performance.log_loss(positive, score) or 0.0
    return performance.accuracy((score >= 0.5) == positive) or 0.0


@pytest.mark.parametrize(
    ("metric", "extra"), [("auc", {}), ("accuracy", {"threshold": 0.5}), ("log_loss", {})]
)
def test_a_classifier_gets_its_own_live_metric(churn, capsys, metric, extra) -> None:
    section = {"metric": metric, "evaluated": f"metrics/eval.json:test.{metric}", **extra}
    params = _params(churn["root"], section)
    assert _drift(churn, "good", params) == 0
    good = _performance(churn)
    assert good["metric"] == metric
    assert good["live"] == pytest.approx(_expected(churn, "good", metric))
    assert good["rows"] == ROWS
    assert good["degraded"] is False
    capsys.readouterr()

    assert _drift(churn, "noise", params) == 0  # --exit-zero: the verdict is in drift.json
    noise = _performance(churn)
    assert noise["degraded"] is True
    assert noise["live"] == pytest.approx(_expected(churn, "noise", metric))
    label = METRIC_LABELS[metric]
    out = capsys.readouterr().out
    assert f"DRIFT live {label} {noise['live']:.3f}" in out
    assert f"live {label}" in out.splitlines()[-1]  # the headline names the metric
    markdown = (churn["root"] / "out" / "drift.md").read_text()
    assert f"{label} on {ROWS:,} rows with actuals" in markdown


def test_higher_is_better_metrics_are_judged_from_below(churn) -> None:
    params = _params(churn["root"], {"metric": "auc", "evaluated": "metrics/eval.json:test.auc"})
    _drift(churn, "noise", params)
    result = _performance(churn)
    assert result["higher_is_better"] is True
    assert result["limit"] == pytest.approx(0.9 / 1.25)  # thresholds.metric_ratio's default
    assert result["live"] < result["limit"]
    # The same window judged by log loss: lower is better, the limit is above the evaluated.
    params = _params(
        churn["root"], {"metric": "log_loss", "evaluated": "metrics/eval.json:test.log_loss"}
    )
    _drift(churn, "noise", params)
    result = _performance(churn)
    assert result["higher_is_better"] is False
    assert result["limit"] == pytest.approx(0.35 * 1.25)
    assert result["live"] > result["limit"]


def test_labels_are_compared_as_labels(tmp_path) -> None:
    """accuracy without a threshold: the prediction column holds classes (text here)."""
    rng = np.random.default_rng(2)
    actual = rng.choice(["stay", "churn", "pause"], ROWS)
    predicted = np.where(rng.random(ROWS) < 0.8, actual, "stay")
    frame = pl.DataFrame({"tenure": rng.normal(24, 6, ROWS), "label": predicted, "truth": actual})
    frame.write_parquet(tmp_path / "window.parquet")
    (tmp_path / "m.json").write_text(json.dumps({"accuracy": 0.9}))
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "monitoring": {
                    "features": {"tenure": "numeric"},
                    "prediction": "label",
                    "actual": "truth",
                    "performance": {"metric": "accuracy", "evaluated": "m.json:accuracy"},
                }
            }
        )
    )
    window = str(tmp_path / "window.parquet")
    args = ["--reference", window, "--current", window, "--params", str(params)]
    assert (
        main(["monitor", "drift", *args, "--root", str(tmp_path), "--out", str(tmp_path / "o")])
        == 0
    )
    result = json.loads((tmp_path / "o" / "drift.json").read_text())["performance"]
    assert result["live"] == pytest.approx(float(np.mean(predicted == actual)))
    # Predicted classes drift as categories (PSI), not as numbers.
    prediction = json.loads((tmp_path / "o" / "drift.json").read_text())["prediction"]
    assert prediction["kind"] == "categorical"
    assert prediction["role"] == "prediction"


def test_the_drift_issue_names_the_metric_and_its_direction(tmp_path) -> None:
    from conveyor.monitor import issue

    drift = {
        "drifted": True,
        "columns": [],
        "performance": {
            "metric": "auc",
            "higher_is_better": True,
            "rows": 500,
            "live": 0.61,
            "evaluated": 0.9,
            "ratio": 0.61 / 0.9,
            "limit": 0.72,
            "degraded": True,
        },
    }
    (tmp_path / "drift.json").write_text(json.dumps(drift))
    issue.write(tmp_path / "drift.json", None, tmp_path / "issue", None)
    body = (tmp_path / "issue" / "issue.md").read_text()
    assert "**Live AUC** 0.610 fell below its limit 0.720 (0.68 x the evaluated 0.900)" in body
    drift["performance"].pop("metric")
    (tmp_path / "drift.json").write_text(json.dumps(drift))
    with pytest.raises(DataError, match="degraded needs metric, live, limit, ratio"):
        issue.write(tmp_path / "drift.json", None, tmp_path / "issue2", None)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"metric": "f1", "evaluated": "metrics/eval.json:test.f1"},
            "monitoring.performance.metric: Input should be 'wape', 'mae', 'rmse', 'accuracy', "
            "'log_loss' or 'auc'",
        ),
        ({"metric": "auc"}, "monitoring.performance.evaluated: required key is missing"),
        (
            {"metric": "auc", "evaluated": "metrics/eval.json:test.auc", "threshold": 0.5},
            "threshold applies to accuracy only, not to auc",
        ),
        (None, "actual needs performance"),
    ],
)
def test_bad_performance_settings_are_one_line_and_exit_2(churn, capsys, section, message) -> None:
    params = _params(churn["root"], section)
    assert _drift(churn, "good", params) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not (churn["root"] / "out").exists()  # nothing written


def test_the_old_wape_keys_name_their_replacement(tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "monitoring:\n  features: {x: numeric}\n  actual: y\n  evaluated_wape: metrics.json:wape\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"evaluated_wape is now performance: \{metric: wape"):
        load_monitoring(params)
    params.write_text(
        "monitoring:\n  features: {x: numeric}\n  thresholds: {wape_ratio: 1.5}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="wape_ratio is now metric_ratio"):
        load_monitoring(params)


def test_performance_without_actual_is_refused(tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "monitoring:\n  features: {x: numeric}\n"
        "  performance: {metric: mae, evaluated: 'metrics.json:mae'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="performance needs actual"):
        load_monitoring(params)


@pytest.mark.parametrize(
    ("metric", "column", "extra", "message"),
    [
        ("log_loss", {"score": 3.0}, {}, "'score' must hold probabilities within 0..1, found 3..3"),
        ("auc", {}, {"positive": "yes"}, "positive 'yes' is text but 'churned' is Int64"),
        ("rmse", {"score": "high"}, {}, "column 'score' must be numeric, it is String"),
    ],
)
def test_columns_the_metric_cannot_read_are_one_line_and_exit_2(
    churn, capsys, metric, column, extra, message
) -> None:
    root = churn["root"]
    (root / "metrics" / "eval.json").write_text(json.dumps({"test": {metric: 0.5}}))
    rng = np.random.default_rng(4)
    churned = (rng.random(ROWS) < 0.5).astype(np.int64)
    churn["bad"] = _window(root / "bad.parquet", rng.random(ROWS), churned, column)
    section = {"metric": metric, "evaluated": f"metrics/eval.json:test.{metric}", **extra}
    assert _drift(churn, "bad", _params(root, section)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (root / "out").exists()


def test_a_binary_metric_refuses_a_third_class(churn, capsys) -> None:
    rng = np.random.default_rng(7)
    three = rng.choice([0, 1, 2], ROWS)
    churn["three"] = _window(churn["root"] / "three.parquet", rng.random(ROWS), three)
    params = _params(churn["root"], {"metric": "auc", "evaluated": "metrics/eval.json:test.auc"})
    assert _drift(churn, "three", params) == 2
    assert "metric auc is binary but 'churned' holds 3 classes" in capsys.readouterr().err


def test_a_positive_class_that_is_neither_class_is_refused(churn, capsys) -> None:
    root = churn["root"]
    rng = np.random.default_rng(6)
    labels = np.where(rng.random(ROWS) < 0.3, "yes", "no")
    churn["text"] = _window(root / "text.parquet", rng.random(ROWS), labels)
    params = _params(
        root, {"metric": "auc", "evaluated": "metrics/eval.json:test.auc", "positive": "Yes"}
    )
    assert _drift(churn, "text", params) == 2
    assert "positive 'Yes' is neither class of 'churned' (no, yes)" in capsys.readouterr().err
    params = _params(
        root, {"metric": "auc", "evaluated": "metrics/eval.json:test.auc", "positive": "yes"}
    )
    assert _drift(churn, "text", params) == 0
    assert _performance(churn)["live"] == pytest.approx(0.5, abs=0.05)  # random scores


@pytest.mark.parametrize("metric", ["mae", "rmse", "wape"])
def test_regression_metrics_through_the_command(churn, metric) -> None:
    """The same window as numbers: each regression metric is the one computed, by name."""
    (churn["root"] / "metrics" / "eval.json").write_text(json.dumps({"test": {metric: 0.4}}))
    params = _params(
        churn["root"], {"metric": metric, "evaluated": f"metrics/eval.json:test.{metric}"}
    )
    _drift(churn, "good", params)
    frame = pl.read_parquet(churn["good"])
    actual, score = frame["churned"].to_numpy().astype(float), frame["score"].to_numpy()
    expected = {
        "mae": np.abs(score - actual).mean(),
        "rmse": np.sqrt(np.square(score - actual).mean()),
        "wape": np.abs(score - actual).sum() / np.abs(actual).sum(),
    }[metric]
    result = _performance(churn)
    assert result["metric"] == metric
    assert result["live"] == pytest.approx(expected)
    assert result["limit"] == pytest.approx(0.4 * 1.25)
    assert result["degraded"] is bool(expected > 0.5)
