"""`conveyor monitor drift` on real generator samples: the acceptance cases and bad input."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from conveyor.cli import main
from conveyor.errors import ConfigError
from conveyor.monitor import drift, stats
from conveyor.monitor.config import load_monitoring
from forecast.features import build_features
from forecast.generate import generate_sales
from forecast.params import SyntheticParams
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

# 10 clubs x 60 items as in production, few days: small, yet every item's price is there.
SHAPE = {"n_clubs": 10, "n_items": 60, "n_days": 120}
REQUEST_COLUMNS = ["club_id", "item_id", "date", "price", "promo"]


def _last_days(frame: pl.DataFrame, days: int = 28) -> pl.DataFrame:
    return frame.filter(pl.col("date") > frame["date"].max() - dt.timedelta(days=days))


@pytest.fixture(scope="module")
def windows(tmp_path_factory, repo_params) -> dict[str, Path]:
    """The reference (pipeline features, seed 7) and request-shaped current windows."""
    folder = tmp_path_factory.mktemp("monitor")
    raw = generate_sales(SyntheticParams(seed=7, **SHAPE))
    build_features(raw, repo_params.features, "US").write_parquet(folder / "reference.parquet")
    # The same generator with another seed: the latest four weeks of requests.
    fresh = _last_days(generate_sales(SyntheticParams(seed=8, **SHAPE)))
    fresh.select(REQUEST_COLUMNS).write_parquet(folder / "fresh.parquet")
    # Promotions on everywhere, prices +30%, and an 11th club the model never saw.
    bigger = _last_days(generate_sales(SyntheticParams(seed=8, **{**SHAPE, "n_clubs": 11})))
    shifted = bigger.with_columns(pl.lit(1, pl.Int8).alias("promo"), pl.col("price") * 1.3)
    shifted.select(REQUEST_COLUMNS).write_parquet(folder / "shifted.parquet")
    return {"folder": folder, **{p.stem: p for p in folder.glob("*.parquet")}}


def _drift(reference: Path, current: Path, out: Path, *extra: str) -> int:
    args = ["monitor", "drift", "--reference", str(reference), "--current", str(current)]
    return main([*args, "--out", str(out), "--params", str(REPO / "params.yaml"), *extra])


def test_same_generator_other_seed_is_no_drift(windows, tmp_path, capsys):
    assert _drift(windows["reference"], windows["fresh"], tmp_path) == 0
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["drifted"] is False
    assert report["drifted_columns"] == []
    assert {c["column"] for c in report["columns"]} == {"club_id", "item_id", "price", "promo"}
    price = next(c for c in report["columns"] if c["column"] == "price")
    assert 0 < price["ks"] < 0.25  # a different price catalogue, but within the threshold
    assert "No drift" in capsys.readouterr().out
    assert "No drift" in (tmp_path / "drift.md").read_text()


def test_shifted_sample_drifts_and_names_the_drifted_features_first(windows, tmp_path, capsys):
    assert _drift(windows["reference"], windows["shifted"], tmp_path) == 1
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["drifted"] is True
    assert set(report["drifted_columns"]) == {"promo", "price", "club_id"}
    order = [c["column"] for c in report["columns"]]
    assert order[-1] == "item_id"  # the only column that did not move comes last
    assert order[:3] == report["drifted_columns"]
    club = next(c for c in report["columns"] if c["column"] == "club_id")
    assert club["unseen"] == ["club_011"]
    assert club["unseen_share"] == pytest.approx(1 / 11, rel=1e-6)
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("DRIFT promo:")
    assert "Drift: features promo, club_id, price" in out
    markdown = (tmp_path / "drift.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert [line.split("`")[1] for line in table] == order
    assert "club_011" in markdown
    # One PNG per column, and they are real PNG files.
    for column in order:
        image = tmp_path / f"drift_{column}.png"
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](drift_{column}.png)" in markdown


def test_inference_log_folder_is_a_current_window(windows, tmp_path):
    """What the service logs (conveyor.serve.inference_log) is what `monitor drift` reads."""
    from conveyor.serve.inference_log import InferenceLogger

    logger = InferenceLogger(tmp_path / "log", sample=1.0, flush_rows=5_000)
    shifted = pl.read_parquet(windows["shifted"])
    rows = shifted.to_dicts()
    for start in range(0, len(rows), 1_000):  # requests of 1,000 rows, as a client batches
        batch = rows[start : start + 1_000]
        logger.log(batch, [1.0] * len(batch), "demand_forecaster:test")
        logger.wait()
    logger.flush()
    assert len(list((tmp_path / "log").rglob("*.parquet"))) >= 2  # several flushes, one folder
    assert _drift(windows["reference"], tmp_path / "log", tmp_path / "out") == 1
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert report["current"]["rows"] == shifted.height
    assert set(report["drifted_columns"]) == {"promo", "price", "club_id"}


def test_a_delta_table_is_a_window_of_its_current_version(windows, tmp_path, capsys):
    """The shifted requests overwritten by fresh ones: no drift, the shifted files (still in the
    folder) and the log's checkpoint (a Parquet file in `_delta_log/`) are not read."""
    from deltalake import DeltaTable, write_deltalake

    table = tmp_path / "requests"
    write_deltalake(str(table), pl.read_parquet(windows["shifted"]).to_arrow())
    fresh = pl.read_parquet(windows["fresh"])
    write_deltalake(str(table), fresh.to_arrow(), mode="overwrite")
    DeltaTable(str(table)).create_checkpoint()
    (table / "_temporary").mkdir()  # a failed writer's leftovers are not data either
    pl.read_parquet(windows["shifted"]).write_parquet(table / "_temporary" / "part-0.parquet")
    assert len(list(table.rglob("*.parquet"))) == 4
    assert _drift(windows["reference"], table, tmp_path / "out") == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert report["current"]["rows"] == fresh.height and report["drifted"] is False


def test_unseen_categories_drift_and_are_named(windows, tmp_path, capsys):
    current = pl.read_parquet(windows["fresh"]).with_columns(
        pl.when(pl.col("item_id") == "item_0001")
        .then(pl.lit("item_9999"))
        .otherwise(pl.col("item_id"))
        .alias("item_id")
    )
    current.write_parquet(tmp_path / "current.parquet")
    assert _drift(windows["reference"], tmp_path / "current.parquet", tmp_path / "out") == 1
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("DRIFT item_id:")
    assert "never seen in training (item_9999)" in line


def test_all_nan_column_is_drift(windows, tmp_path, capsys):
    current = pl.read_parquet(windows["fresh"]).with_columns(pl.lit(float("nan")).alias("price"))
    current.write_parquet(tmp_path / "current.parquet")
    assert _drift(windows["reference"], tmp_path / "current.parquet", tmp_path / "out") == 1
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    price = report["columns"][0]
    assert price["column"] == "price"
    assert price["null_share"] == {"reference": 0.0, "current": 1.0}
    assert price["ks"] is None  # nothing to compare; the missing share decides
    assert "every value is missing" in capsys.readouterr().out


def test_all_null_column_is_drift_not_a_schema_error(windows, tmp_path):
    current = pl.read_parquet(windows["fresh"]).with_columns(pl.lit(None).alias("promo"))
    assert current.schema["promo"] == pl.Null
    current.write_parquet(tmp_path / "current.parquet")
    assert _drift(windows["reference"], tmp_path / "current.parquet", tmp_path / "out") == 1
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert report["drifted_columns"][0] == "promo"


def test_category_codes_match_across_integer_float_and_boolean(windows, tmp_path):
    """promo as 0/1 integers in training and 0.0/1.0 floats (or booleans) in production is the
    same data: no drift, not a column of never-seen categories."""
    fresh = pl.read_parquet(windows["fresh"])
    for dtype in (pl.Float64, pl.Boolean):
        fresh.with_columns(pl.col("promo").cast(dtype)).write_parquet(tmp_path / "c.parquet")
        assert _drift(windows["reference"], tmp_path / "c.parquet", tmp_path / "out") == 0


def _usage_error(windows, current: Path, tmp_path: Path, capsys, *needles: str) -> None:
    """Exit 2, one line on stderr naming the problem, and nothing written."""
    out = tmp_path / "out"
    assert _drift(windows["reference"], current, out) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    assert not out.exists()


def test_empty_current_window(windows, tmp_path, capsys):
    pl.read_parquet(windows["fresh"]).head(0).write_parquet(tmp_path / "empty.parquet")
    _usage_error(windows, tmp_path / "empty.parquet", tmp_path, capsys, "empty (0 rows)")
    (tmp_path / "log").mkdir()
    _usage_error(windows, tmp_path / "log", tmp_path, capsys, "no .parquet files")


def test_window_of_one_row(windows, tmp_path, capsys):
    pl.read_parquet(windows["fresh"]).head(1).write_parquet(tmp_path / "one.parquet")
    _usage_error(windows, tmp_path / "one.parquet", tmp_path, capsys, "1 row,", "min_rows=100")


def test_feature_missing_from_current(windows, tmp_path, capsys):
    pl.read_parquet(windows["fresh"]).drop("price").write_parquet(tmp_path / "c.parquet")
    _usage_error(windows, tmp_path / "c.parquet", tmp_path, capsys, "missing monitored", "price")


def test_different_schemas(windows, tmp_path, capsys):
    current = pl.read_parquet(windows["fresh"]).with_columns(
        pl.col("price").cast(pl.String), pl.col("club_id").cast(pl.Categorical).to_physical()
    )
    current.write_parquet(tmp_path / "c.parquet")
    _usage_error(
        windows, tmp_path / "c.parquet", tmp_path, capsys, "different schemas", "price", "club_id"
    )


def test_missing_and_unreadable_inputs(windows, tmp_path, capsys):
    _usage_error(windows, tmp_path / "nope.parquet", tmp_path, capsys, "no such file")
    (tmp_path / "bad.parquet").write_text("not parquet")
    _usage_error(windows, tmp_path / "bad.parquet", tmp_path, capsys, "cannot read")
    (tmp_path / "c.json").write_text("{}")
    _usage_error(windows, tmp_path / "c.json", tmp_path, capsys, ".parquet or .csv")


def test_csv_window_is_read(windows, tmp_path):
    pl.read_parquet(windows["fresh"]).write_csv(tmp_path / "current.csv")
    assert _drift(windows["reference"], tmp_path / "current.csv", tmp_path / "out") == 0


def test_bad_monitoring_params_name_file_line_and_key(windows, tmp_path, capsys):
    text = (REPO / "params.yaml").read_text().replace("    ks: 0.25 ", "    ks: -1 ")
    params = tmp_path / "params.yaml"
    params.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("    ks: -1"))
    code = _drift(windows["reference"], windows["fresh"], tmp_path / "out", "--params", str(params))
    assert code == 2
    err = capsys.readouterr().err
    assert f"params.yaml:{line}: monitoring.thresholds.ks:" in err
    assert not (tmp_path / "out").exists()


def test_repository_params_keep_every_other_section_valid():
    """The `monitoring:` key leaves the model's params and the gates loadable."""
    from conveyor.gate import load_gates
    from forecast.params import load_params

    assert load_monitoring(REPO / "params.yaml").thresholds.ks == 0.25
    assert load_params(REPO / "params.yaml").train.num_boost_round > 0
    assert load_gates(REPO / "params.yaml").rules
    # One key read by both: conveyor validates it, the model carries it (the model-age alert).
    age = load_monitoring(REPO / "params.yaml").max_model_age_days
    assert age == load_params(REPO / "params.yaml").monitoring.max_model_age_days == 21


def test_prediction_drift_and_live_wape(tmp_path, capsys):
    """Predictions in both windows are compared; actuals in the current window give live WAPE,
    judged against the evaluated WAPE read from the metrics file."""
    rng = np.random.default_rng(3)
    actual = rng.poisson(20, 5_000).astype(float)
    base = {"club_id": ["club_001"] * 5_000, "item_id": ["item_0001"] * 5_000, "promo": [0] * 5_000}
    reference = pl.DataFrame(
        {**base, "price": rng.normal(10, 1, 5_000), "prediction": actual * 1.05}
    )
    reference.write_parquet(tmp_path / "reference.parquet")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "metrics.json").write_text(json.dumps({"model": {"wape": 0.1}}))
    params = ["--params", str(REPO / "params.yaml"), "--root", str(tmp_path)]

    good = reference.with_columns(pl.Series("units_sold", actual))
    good.write_parquet(tmp_path / "good.parquet")
    assert _run(tmp_path, "good.parquet", params) == 0
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert report["performance"]["live"] == pytest.approx(0.05)
    assert report["performance"]["metric"] == "wape"
    assert report["performance"]["degraded"] is False
    assert report["prediction"]["drifted"] is False

    bad = good.with_columns(pl.col("prediction") * 2)
    bad.write_parquet(tmp_path / "bad.parquet")
    capsys.readouterr()
    assert _run(tmp_path, "bad.parquet", params) == 1
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert report["prediction"]["drifted"] is True
    assert report["performance"]["live"] == pytest.approx(1.1)
    assert report["performance"]["degraded"] is True
    assert report["drifted_columns"] == []  # the inputs did not move: only the model's output
    out = capsys.readouterr().out
    assert "DRIFT prediction: KS D" in out
    assert "DRIFT live WAPE 1.100 (must stay ≤ 0.125); evaluated 0.100" in out

    (tmp_path / "metrics" / "metrics.json").unlink()
    assert _run(tmp_path, "bad.parquet", params) == 2
    assert (
        "monitoring.performance.evaluated: metrics/metrics.json: file not found"
        in capsys.readouterr().err
    )


def _run(folder: Path, current: str, params: list[str]) -> int:
    shutil.rmtree(folder / "out", ignore_errors=True)
    args = ["--reference", str(folder / "reference.parquet"), "--current", str(folder / current)]
    return main(["monitor", "drift", *args, "--out", str(folder / "out"), *params])


def test_sampling_is_seeded_and_bounded(windows, tmp_path):
    """KS on a seeded sample: the same result twice, and close to the all-rows figure."""
    params = load_monitoring(REPO / "params.yaml")
    small = params.model_copy(update={"sample_rows": 2_000})
    first = drift.run(windows["reference"], windows["fresh"], small)
    second = drift.run(windows["reference"], windows["fresh"], small)
    full = drift.run(windows["reference"], windows["fresh"], params)
    ks = [next(c.ks for c in r.columns if c.column == "price") for r in (first, second, full)]
    assert ks[0] == ks[1]
    assert ks[0] == pytest.approx(ks[2], abs=0.05)


def test_psi_matches_its_definition():
    reference, current = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    expected = (0.9 - 0.5) * np.log(0.9 / 0.5) + (0.1 - 0.5) * np.log(0.1 / 0.5)
    assert stats.psi(reference, current) == pytest.approx(expected)
    assert stats.psi(reference, reference) == 0
    # A bin the reference never has counts as if it held EPSILON: heavily, but finite.
    eps = stats.EPSILON
    unseen = (0.5 - 1) * np.log(0.5 / 1) + (0.5 - eps) * np.log(0.5 / eps)
    assert stats.psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(unseen)
    assert unseen > 4


def test_quantile_edges_merge_for_discrete_values():
    edges = stats.quantile_edges(np.array([0, 0, 0, 0, 1, 1.0]), bins=10)
    assert list(edges) == [0.0, 1.0]
    assert list(stats.binned_shares(np.array([0.0, 1.0, 2.0, -1.0]), edges)) == [0.25, 0.25, 0.5]


def test_performance_is_required_with_actuals(tmp_path):
    document = yaml.safe_load((REPO / "params.yaml").read_text())
    del document["monitoring"]["performance"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="actual needs performance"):
        load_monitoring(tmp_path / "params.yaml")


def test_command_line_entry_point(windows, tmp_path):
    """The installed command: exit codes and a one-line error, in a real process."""
    base = [sys.executable, "-m", "conveyor.cli", "monitor", "drift"]
    refs = ["--reference", str(windows["reference"])]
    ok = subprocess.run(
        [*base, *refs, "--current", str(windows["shifted"]), "--out", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert ok.returncode == 1, ok.stderr
    bad = subprocess.run(
        [*base, *refs, "--current", str(tmp_path / "missing"), "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "no such file or folder" in bad.stderr


def test_an_unwritable_out_is_a_usage_error_not_drift(windows, tmp_path, capsys):
    """Exit 1 means drift to the workflow: a bad --out must be exit 2, one line, no traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert _drift(windows["reference"], windows["shifted"], blocker) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {blocker}: cannot write there")
    assert len(err.strip().splitlines()) == 1
    code = main(["monitor", "issue", "--drift", str(blocker), "--out", str(blocker / "x")])
    assert code == 2


def test_last_days_keeps_the_newest_partitions_and_widths_may_differ(windows, tmp_path, capsys):
    """An inference log of many days: --last-days compares only the newest ones (counted from
    the newest partition); partitions written by two service versions (promo as Int8, then
    Int64) read as one window."""
    fresh = pl.read_parquet(windows["fresh"])
    shifted = pl.read_parquet(windows["shifted"])
    log = tmp_path / "log"
    for day, frame in (
        ("2026-01-01", fresh.with_columns(pl.col("promo").cast(pl.Int8))),
        ("2026-01-02", fresh.with_columns(pl.col("promo").cast(pl.Int64))),
        ("2026-01-09", shifted.with_columns(pl.col("promo").cast(pl.Int64))),
    ):
        (log / f"log_date={day}").mkdir(parents=True)
        frame.write_parquet(log / f"log_date={day}" / "part-0.parquet")
    assert _drift(windows["reference"], log, tmp_path / "old", "--last-days", "9") == 1
    assert _drift(windows["reference"], log, tmp_path / "new", "--last-days", "1") == 1
    rows = json.loads((tmp_path / "new" / "drift.json").read_text())["current"]["rows"]
    assert rows == shifted.height
    only_fresh = tmp_path / "fresh-log"
    for day in ("2026-01-01", "2026-01-02"):
        (only_fresh / f"log_date={day}").mkdir(parents=True)
        fresh.write_parquet(only_fresh / f"log_date={day}" / "part-0.parquet")
    assert _drift(windows["reference"], only_fresh, tmp_path / "f", "--last-days", "2") == 0
    capsys.readouterr()
    # argparse: not a number of days (a usage error, exit 2)
    assert _drift(windows["reference"], only_fresh, tmp_path / "x", "--last-days", "0") == 2
    assert "must be a whole number of days >= 1" in capsys.readouterr().err
    flat = tmp_path / "flat"
    flat.mkdir()
    fresh.write_parquet(flat / "window.parquet")
    assert _drift(windows["reference"], flat, tmp_path / "y", "--last-days", "3") == 2
    assert "no log_date=YYYY-MM-DD partitions" in capsys.readouterr().err
