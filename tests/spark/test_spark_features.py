"""The `prepare` stage on Spark gives the local feature table: same rows, columns, types and
values (floats within 1e-9 relative), with gaps in some series and a series that starts late;
and `python -m forecast prepare` with `compute.engine: spark` writes the local file's table.
Real Spark (local[2])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forecast.__main__ import main as forecast_main
from forecast.features import build_features
from forecast.features_spark import build_features_spark
from forecast.params import PipelineParams
from forecast.schema import KEYS
from tests.model_fixtures import REPO

pytestmark = pytest.mark.spark

ITEMS = 3  # every club and the whole date range (the 364-day lag, the 91-day windows), few items
TOLERANCE = 1e-9  # relative: sums of whole units are exact; a standard deviation may differ in ulps


def _slice(sales: pl.DataFrame) -> pl.DataFrame:
    """A few items of every club, with gaps in some series and one series that starts late."""
    items = sorted(sales["item_id"].unique())[:ITEMS]
    frame = sales.filter(pl.col("item_id").is_in(items))
    first_club = frame["club_id"].min()
    day = pl.col("date").dt.ordinal_day()
    gaps = (pl.col("item_id") == items[0]) & ((day % 9 == 0) | day.is_between(100, 130))
    late = (pl.col("club_id") == first_club) & (pl.col("item_id") == items[1])
    starts_late = late & (pl.col("date") < pl.col("date").min() + pl.duration(days=400))
    return frame.filter(~gaps & ~starts_late)


@pytest.fixture(scope="module")
def raw(sales: pl.DataFrame) -> pl.DataFrame:
    return _slice(sales)


def test_spark_builds_the_local_features(raw, spark, repo_params: PipelineParams) -> None:
    params, country = repo_params.features, repo_params.data.holidays_country
    local = build_features(raw, params, country)
    on_spark = build_features_spark(spark.createDataFrame(raw.to_arrow()), params, country)
    got = pl.from_arrow(on_spark.toArrow())
    assert isinstance(got, pl.DataFrame)
    # The slice exercises what it is meant to: gap filling, and rows kept after a late start.
    assert raw.height < raw["club_id"].n_unique() * ITEMS * raw["date"].n_unique()
    assert got.height == local.height > 0
    assert_frame_equal(got.sort(KEYS), local, check_exact=False, rel_tol=TOLERANCE, abs_tol=0)


def _params_file(root: Path, engine: str) -> Path:
    """The repository's params.yaml with a `compute:` section naming ``engine``."""
    path = root / f"params-{engine}.yaml"
    compute = "compute:\n  engine: spark\n  spark: {master: 'local[2]'}\n"
    text = (REPO / "params.yaml").read_text(encoding="utf-8")
    path.write_text(text + ("\n" + compute if engine == "spark" else ""), encoding="utf-8")
    return path


def test_prepare_with_engine_spark_writes_the_local_table(tmp_path, raw) -> None:
    raw_path = tmp_path / "raw.parquet"
    raw.write_parquet(raw_path)
    local_out, spark_out = tmp_path / "local" / "features.parquet", tmp_path / "spark" / "f.parquet"
    args = ["prepare", "--raw", str(raw_path), "--out"]
    assert (
        forecast_main(["--params", str(_params_file(tmp_path, "local")), *args, str(local_out)])
        == 0
    )
    command = ["--params", str(_params_file(tmp_path, "spark")), *args, str(spark_out)]
    done = subprocess.run(
        [sys.executable, "-m", "forecast", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    local = pl.read_parquet(local_out)
    assert done.stdout == f"prepare: {local.height:,} feature rows -> {spark_out}\n"
    assert "Traceback" not in done.stderr
    # One file, in key order, as train and evaluate read it; no parts left beside it.
    assert [p.name for p in spark_out.parent.iterdir()] == [spark_out.name]
    table = pl.read_parquet(spark_out)
    assert_frame_equal(table, local, check_exact=False, rel_tol=TOLERANCE, abs_tol=0)
