"""The `prepare` stage on Spark gives the local feature table: the same rows, columns, types and
values, with gaps in some series and a series that starts late, whatever the series' split into
partitions and chunks; and `python -m forecast prepare` with `compute.engine: spark` writes the
local file's table. Real Spark (local[2])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from forecast.__main__ import main as forecast_main
from forecast.features import build_features
from forecast.features_spark import run_spark, whole_series
from forecast.params import PipelineParams
from forecast.schema import SERIES_KEYS, conform_raw
from tests.model_fixtures import REPO

pytestmark = pytest.mark.spark

ITEMS = 3  # every club and the whole date range (the 364-day lag, the 91-day windows), few items


def _slice(sales: pl.DataFrame) -> pl.DataFrame:
    """A few items of every club, with gaps in some series and one series that starts late."""
    items = sorted(sales["item_id"].unique())[:ITEMS]
    frame = sales.filter(pl.col("item_id").is_in(items))
    first_club = frame["club_id"].min()
    day = pl.col("date").dt.ordinal_day()
    gaps = (pl.col("item_id") == items[0]) & ((day % 9 == 0) | day.is_between(100, 130))
    late = (pl.col("club_id") == first_club) & (pl.col("item_id") == items[1])
    starts_late = late & (pl.col("date") < pl.col("date").min() + pl.duration(days=400))
    # A series that ends early (tests/forecast/test_features.py: its holidays are the data's).
    ends_early = (pl.col("club_id") == first_club) & (pl.col("item_id") == items[2])
    stops = ends_early & (pl.col("date") > pl.col("date").max() - pl.duration(days=200))
    return frame.filter(~gaps & ~starts_late & ~stops)


@pytest.fixture(scope="module")
def raw(sales: pl.DataFrame) -> pl.DataFrame:
    return _slice(sales)


# 500: chunks of a few series, so series are carried across Arrow batches and chunks.
@pytest.mark.parametrize("chunk_rows", [500, 1_000_000])
def test_spark_builds_the_local_features(
    tmp_path, raw, spark, repo_params: PipelineParams, chunk_rows: int
) -> None:
    params, country = repo_params.features, repo_params.data.holidays_country
    local = build_features(raw, params, country)
    raw_path, out = tmp_path / "raw.parquet", tmp_path / "features.parquet"
    # Rows out of key order, in several files' worth of row groups: Spark must regroup them.
    raw.sample(fraction=1.0, shuffle=True, seed=7).write_parquet(raw_path, row_group_size=5_000)
    rows = run_spark(spark, raw_path, params, country, out, chunk_rows=chunk_rows)
    got = pl.read_parquet(out)
    # The slice exercises what it is meant to: gap filling, and rows kept after a late start.
    assert raw.height < raw["club_id"].n_unique() * ITEMS * raw["date"].n_unique()
    assert rows == got.height == local.height > 0
    # Exactly the local table, in its key order: the same function built both.
    assert_frame_equal(got, local)
    assert [p.name for p in tmp_path.iterdir()] == ["raw.parquet", "features.parquet"]


def test_raw_sales_typed_otherwise_are_typed_as_the_local_engine_types_them(
    tmp_path, raw, spark, repo_params: PipelineParams
) -> None:
    # Dates as ISO text and prices as float32 (another writer's file): the local engine reads
    # them through conform_raw, and so does each Spark worker.
    params, country = repo_params.features, repo_params.data.holidays_country
    local = build_features(raw, params, country)
    retyped = raw.with_columns(pl.col("date").cast(pl.String), pl.col("price").cast(pl.Float32))
    raw_path, out = tmp_path / "raw.parquet", tmp_path / "features.parquet"
    retyped.write_parquet(raw_path)
    run_spark(spark, raw_path, params, country, out)
    assert_frame_equal(
        pl.read_parquet(out), build_features(conform_raw(retyped, "x"), params, country)
    )
    assert pl.read_parquet(out).schema == local.schema


def test_whole_series_never_cuts_a_series_between_chunks() -> None:
    keys = [("c1", "i1")] * 5 + [("c1", "i2")] * 3 + [("c2", "i1")] * 6 + [("c2", "i2")] * 1
    table = pl.DataFrame(
        {"club_id": [c for c, _ in keys], "item_id": [i for _, i in keys], "n": range(len(keys))}
    )
    # Batches of 4 rows cut every series but the last; chunks of at least 4 rows.
    batches = table.to_arrow().to_batches(max_chunksize=4)
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    chunks = list(whole_series(iter(batches), chunk_rows=4))
    assert pl.concat(chunks).equals(table)  # every row once, in order
    for chunk in chunks:
        series = set(chunk.select(SERIES_KEYS).unique().rows())
        for other in chunks:
            if other is not chunk:
                assert not series & set(other.select(SERIES_KEYS).unique().rows())
    assert [c.height for c in chunks] == [5, 3, 6, 1]


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
    assert_frame_equal(pl.read_parquet(spark_out), local)
