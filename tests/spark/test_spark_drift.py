"""`monitor drift` on Spark gives the local verdict: the same drifted flag and columns, on an
ordinary window, a +30% price window (caught within item_id) and a window with unseen items and
missing values, the last through `conveyor monitor drift` with `compute.engine: spark`, which
writes the local drift.json (in this process: a second JVM would cost ~15 s); bad input is the
local one-line error. Real Spark (local[2]), 2 clubs of the default data.

Tolerances. A column of at most `monitoring.sample_rows` values is compared whole on both
engines, so every figure agrees to float rounding (1e-9). Counts, missing shares and per-key
medians use every row on both, so they agree to rounding whatever the size. A longer column is
sampled by each engine its own way (numpy's positions locally, Spark's Bernoulli draw): KS D
differs by sampling error. |D(A, B) - D(A', B')| <= D(A, A') + D(B, B'), where A and A' are the two
engines' samples of the reference (B, B' of the current), and two samples of m values of one
population are more than 1.95 sqrt(2/m) apart (KS) with probability 0.1%: so KS_TOLERANCE.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from conveyor.cli import main
from conveyor.monitor import drift
from conveyor.monitor.config import MonitoringParams, load_monitoring
from tests.paths import REPO

pytestmark = pytest.mark.spark

COLUMNS = ["club_id", "item_id", "date", "price", "promo"]
EXACT = 1e-9
SAMPLE = 20_000  # below both windows of the sampled case: each engine draws its own sample
KS_TOLERANCE = 2 * 1.95 * math.sqrt(2 / SAMPLE)  # 0.039 (see the module's docstring)


def _last_days(frame: pl.DataFrame, days: int) -> pl.DataFrame:
    return frame.filter(pl.col("date") > frame["date"].max() - dt.timedelta(days=days))


@pytest.fixture(scope="module")
def windows(sales: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The training data (3 years, 131,520 rows) and current windows cut from its last days."""
    folder = tmp_path_factory.mktemp("drift")
    reference = sales.select(COLUMNS)
    recent = _last_days(reference, 28)
    year = _last_days(reference, 365)
    row = pl.int_range(pl.len())
    made = {
        "reference": reference,
        "ordinary": recent,
        "up": year.with_columns(pl.col("price") * 1.3),
        # 3% of rows name items training never had; 10% have no price.
        "unseen": recent.with_columns(
            pl.when(row % 33 == 0)
            .then(pl.lit("new-") + pl.col("item_id"))
            .otherwise(pl.col("item_id"))
            .alias("item_id"),
            pl.when(row % 10 == 0).then(None).otherwise(pl.col("price")).alias("price"),
        ),
    }
    paths = {}
    for name, frame in made.items():
        paths[name] = folder / f"{name}.parquet"
        frame.write_parquet(paths[name])
    return paths


def _params(**changes: object) -> MonitoringParams:
    base = load_monitoring(REPO / "params.yaml")
    return base.model_copy(update={"actual": None, "performance": None, **changes})


def _both(windows, current: str, spark, params: MonitoringParams):
    ref, cur = windows["reference"], windows[current]
    return drift.run(ref, cur, params), drift.run(ref, cur, params, spark=lambda: spark)


def _columns(result: drift.DriftResult) -> dict[str, Any]:
    return {c.column: c for c in result.columns}


def _close(got: object, expected: object) -> bool:
    """Equal, numbers within EXACT (relative), through nested lists and dicts."""
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(_close(got[k], expected[k]) for k in expected)
        )
    if isinstance(expected, list | tuple):
        return len(got) == len(expected) and all(map(_close, got, expected))  # type: ignore[arg-type]
    if isinstance(expected, float) and not isinstance(got, bool):
        return got == pytest.approx(expected, rel=EXACT, abs=EXACT)
    return got == expected


def _same_figures(local: drift.DriftResult, on_spark: drift.DriftResult) -> None:
    """Every figure of every column within float rounding (the whole columns compared)."""
    assert _close(on_spark.to_json()["columns"], local.to_json()["columns"])


def test_an_ordinary_window_is_no_drift_on_both(windows, spark) -> None:
    local, on_spark = _both(windows, "ordinary", spark, _params())
    assert not local.drifted
    assert not on_spark.drifted
    assert on_spark.drifted_columns == local.drifted_columns == []
    _same_figures(local, on_spark)


def test_a_price_rise_is_caught_within_item_on_both(windows, spark) -> None:
    local, on_spark = _both(windows, "up", spark, _params(sample_rows=SAMPLE))
    assert local.drifted and on_spark.drifted
    assert on_spark.drifted_columns == local.drifted_columns
    assert "price" in local.drifted_columns
    ours, theirs = _columns(local)["price"], _columns(on_spark)["price"]
    # Per-key medians use every row: the same shift, and the same reason, on both.
    assert ours.key_shift == pytest.approx(0.3, abs=0.02)
    assert theirs.key_shift == pytest.approx(ours.key_shift, rel=EXACT)
    assert any(r.startswith("median shift within item_id") for r in theirs.reasons)
    # KS on each engine's own sample of 20,000: within sampling error, not equal.
    assert theirs.ks == pytest.approx(ours.ks, abs=KS_TOLERANCE)
    assert theirs.ks != ours.ks
    for name in ("club_id", "item_id", "promo"):  # categories: every row, both engines
        assert _columns(on_spark)[name].psi == pytest.approx(_columns(local)[name].psi, rel=EXACT)


def _params_file(folder: Path, engine: str) -> Path:
    """The repository's params.yaml without actuals, on ``engine``."""
    import yaml

    data = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    data["monitoring"].pop("actual")
    data["monitoring"].pop("performance")
    data["compute"] = {"engine": engine, "spark": {"master": "local[2]"}}
    path = folder / f"params-{engine}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _drift_json(folder: Path, windows, current: str, engine: str) -> tuple[int, dict[str, Any]]:
    """`conveyor monitor drift` as the monitoring job runs it (in this process: the session is
    the one the tests share), with params.yaml's `compute.engine` set to ``engine``."""
    out = folder / engine
    args = ["monitor", "drift", "--reference", str(windows["reference"])]
    args += ["--current", str(windows[current]), "--out", str(out)]
    code = main([*args, "--params", str(_params_file(folder, engine))])
    return code, json.loads((out / "drift.json").read_text(encoding="utf-8"))


def test_unseen_items_and_missing_prices_give_the_local_drift_json(tmp_path, windows) -> None:
    code, local = _drift_json(tmp_path, windows, "unseen", "local")
    spark_code, on_spark = _drift_json(tmp_path, windows, "unseen", "spark")
    assert code == spark_code == 1  # drift
    assert on_spark["drifted"] is local["drifted"] is True
    assert on_spark["drifted_columns"] == local["drifted_columns"] == ["item_id", "price"]
    assert _close(on_spark["columns"], local["columns"])
    item, price = on_spark["columns"][:2]
    assert item["unseen_share"] == pytest.approx(1 / 33, abs=1e-3)
    assert price["null_share"]["current"] == pytest.approx(0.1, abs=1e-3)
    assert "Spark" in on_spark["method"]["sampling"]
    assert sorted(p.name for p in (tmp_path / "spark").iterdir()) == sorted(
        p.name for p in (tmp_path / "local").iterdir()
    )


def test_the_bins_of_many_numeric_columns_are_counted_in_several_jobs_as_locally(
    tmp_path, windows, spark
) -> None:
    # Ten numeric columns (with nulls and NaN) x 9 edges: more aggregates than one Spark job
    # takes (AGGREGATES_PER_JOB), so the bins are counted in groups, each matched to its column.
    from conveyor.monitor.frames import locate, open_window
    from conveyor.monitor.spark_window import AGGREGATES_PER_JOB, open_spark_window

    row = pl.int_range(pl.len())
    frame = pl.read_parquet(windows["up"]).select(
        pl.col("price").alias("price"),
        *[(pl.col("price") * k + row % (k + 2)).alias(f"x{k}") for k in range(1, 9)],
        pl.when(row % 7 == 0).then(float("nan")).otherwise(row % 13).alias("with_nan"),
    )
    path = tmp_path / "many.parquet"
    frame.write_parquet(path)
    names = frame.columns
    edges = {
        n: np.quantile(frame[n].drop_nans().drop_nulls(), np.linspace(0.1, 0.9, 9)) for n in names
    }
    assert len(names) * 10 > 2 * AGGREGATES_PER_JOB

    def picked(name: str, sample: np.ndarray) -> np.ndarray:
        return edges[name]

    located = locate(path, "current")
    local = open_window(located).values(names, 10**9, 7, picked)
    on_spark = open_spark_window(spark, located).values(names, 10**9, 7, picked)
    for name in names:
        assert on_spark[name].shares is not None and local[name].shares is not None
        assert on_spark[name].shares.tolist() == pytest.approx(
            local[name].shares.tolist(), abs=EXACT
        ), name
    # The shares differ between columns: a group's counts given to another column would show.
    assert len({tuple(on_spark[n].shares.round(6)) for n in names}) == len(names)


@pytest.mark.parametrize("problem", ["missing window", "missing column"])
def test_bad_input_is_the_local_error_on_spark(tmp_path, windows, spark, capsys, problem) -> None:
    current = tmp_path / "nowhere.parquet"
    if problem == "missing column":
        current = tmp_path / "no-price.parquet"
        pl.read_parquet(windows["ordinary"]).drop("price").write_parquet(current)
    errors = {}
    for engine in ("local", "spark"):
        out = tmp_path / engine
        args = ["monitor", "drift", "--reference", str(windows["reference"])]
        args += ["--current", str(current), "--out", str(out)]
        assert main([*args, "--params", str(_params_file(tmp_path, engine))]) == 2
        errors[engine] = capsys.readouterr().err
        assert not out.exists()
    assert errors["spark"] == errors["local"]
    assert errors["local"].startswith("error: current ")
    assert errors["local"].count("\n") == 1


def test_a_file_that_is_not_parquet_is_one_line_on_spark_not_its_error_log(
    tmp_path, windows
) -> None:
    folder = tmp_path / "requests"
    folder.mkdir()
    pl.read_parquet(windows["ordinary"]).write_parquet(folder / "part-0.parquet")
    (folder / "part-1.parquet").write_text("garbage")
    args = ["monitor", "drift", "--reference", str(windows["reference"]), "--current"]
    args += [str(folder), "--out", str(tmp_path / "out")]
    args += ["--params", str(_params_file(tmp_path, "spark"))]
    done = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 2, done.stderr
    # The JVM's own notice of its incubator module may come first; nothing else does.
    lines = [line for line in done.stderr.splitlines() if "incubator modules" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"error: current {folder}: cannot read ("), (
        done.stderr
    )
    assert not (tmp_path / "out").exists()
