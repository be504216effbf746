"""The `prepare` stage on Spark gives the local feature table: the same rows, columns, types and
values, with gaps in some series and a series that starts late, whatever the series' split into
partitions and chunks; and `python -m forecast prepare` with `compute.engine: spark` writes the
local file's table. Real Spark (local[2])."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from forecast import features_spark
from forecast.__main__ import main as forecast_main
from forecast.features import build_features
from forecast.features_spark import _split_edges, run_spark, whole_series
from forecast.params import PipelineParams
from forecast.schema import KEYS, SERIES_KEYS, conform_raw
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


# Arrow batches of 50 rows and chunks of 500: series cut between batches, carried to the next
# chunk; and the stage's own sizes.
@pytest.mark.parametrize(("batch_rows", "chunk_rows"), [(50, 500), (100_000, 1_000_000)])
def test_spark_builds_the_local_features(
    tmp_path, raw, spark, repo_params: PipelineParams, batch_rows: int, chunk_rows: int, monkeypatch
) -> None:
    monkeypatch.setattr(features_spark, "ARROW_BATCH_ROWS", batch_rows)
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


@contextmanager
def _small_partitions(spark, max_bytes: int | str) -> Iterator[None]:
    """Spark's scan splits files into partitions of about ``max_bytes`` (row groups stay whole)."""
    keys = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")
    before = {key: spark.conf.get(key) for key in keys}
    for key in keys:
        spark.conf.set(key, str(max_bytes))
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)


def _paths_taken(monkeypatch) -> list[str]:
    """The names of the builds run_spark runs, in order, as they run."""
    taken: list[str] = []
    for name in ("_in_file_order", "_regrouped"):
        real = getattr(features_spark, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            result = _real(*args, **kwargs)
            taken.append(_name if result is not None else f"{_name}: not in order")
            return result

        monkeypatch.setattr(features_spark, name, spy)
    return taken


def test_raw_in_key_order_is_built_without_a_shuffle_across_any_partitions(
    tmp_path, raw, spark, repo_params: PipelineParams, monkeypatch
) -> None:
    # Six series in row groups of 150 rows, split into partitions of a row group or two: series
    # continue across partitions, some partitions hold part of one series, some none.
    params, country = repo_params.features, repo_params.data.holidays_country
    some = raw.filter(pl.col("club_id").is_in(sorted(raw["club_id"].unique())[:2])).sort(KEYS)
    raw_path, out = tmp_path / "raw.parquet", tmp_path / "features.parquet"
    some.write_parquet(raw_path, row_group_size=150)
    taken = _paths_taken(monkeypatch)
    cut: list[list[features_spark.Slice]] = []
    real_tasks = features_spark._tasks
    monkeypatch.setattr(features_spark, "_tasks", lambda *a: cut.extend(real_tasks(*a)) or cut)
    with _small_partitions(spark, 2_000):
        rows = run_spark(spark, raw_path, params, country, out, chunk_rows=200)
    assert len(cut) > 2 * some.select(SERIES_KEYS).n_unique()
    assert taken == ["_in_file_order"]
    local = build_features(some, params, country)
    assert rows == local.height
    assert_frame_equal(pl.read_parquet(out), local)


def test_files_that_cut_a_club_between_them_are_still_built_in_file_order(
    tmp_path, raw, spark, repo_params: PipelineParams, monkeypatch
) -> None:
    # Both files hold the first club (its ranges touch, not overlap): the footers cannot tell,
    # the workers' order check can.
    params, country = repo_params.features, repo_params.data.holidays_country
    ordered, folder = raw.sort(KEYS), tmp_path / "raw"
    folder.mkdir()
    half = ordered.height // 4  # within the first of the two clubs
    ordered.head(half).write_parquet(folder / "a.parquet")
    ordered.slice(half).write_parquet(folder / "b.parquet")
    taken = _paths_taken(monkeypatch)
    rows = run_spark(spark, folder, params, country, tmp_path / "f.parquet")
    assert taken == ["_in_file_order"]
    local = build_features(ordered, params, country)
    assert rows == local.height
    assert_frame_equal(pl.read_parquet(tmp_path / "f.parquet"), local)


@pytest.mark.parametrize("max_bytes", ["1k", "6k", "64m"])
def test_tasks_hold_the_rows_of_sparks_own_partitions(tmp_path, raw, spark, max_bytes) -> None:
    # Two files of several row groups: the workers read the row groups Spark's scan would give
    # each partition, with the session's settings (small ones cut a row group per task).
    folder = tmp_path / "raw"
    folder.mkdir()
    ordered = raw.sort(KEYS).head(6000)
    ordered.head(2500).write_parquet(folder / "a.parquet", row_group_size=300)
    ordered.slice(2500).write_parquet(folder / "b.parquet", row_group_size=700)
    files = sorted(folder.iterdir())
    with _small_partitions(spark, max_bytes):
        tasks = features_spark._tasks(files, *features_spark._split_sizes(spark))
        scan = spark.read.parquet(*(str(f) for f in files))
        counts = scan.rdd.mapPartitions(lambda rows: [sum(1 for _ in rows)]).collect()
    # Spark packs its largest splits first; the tasks keep file order: the same sizes.
    assert sorted(sum(s.rows for s in task) for task in tasks) == sorted(c for c in counts if c)
    assert len(tasks) > 1


def test_files_each_in_order_whose_ranges_overlap_are_regrouped(
    tmp_path, raw, spark, repo_params: PipelineParams, monkeypatch
) -> None:
    params, country = repo_params.features, repo_params.data.holidays_country
    ordered = raw.sort(KEYS)
    folder, out = tmp_path / "raw", tmp_path / "features.parquet"
    folder.mkdir()
    # Each file's rows are in key order; the first file holds the first and last series.
    series = ordered.select(SERIES_KEYS).unique(maintain_order=True)
    ends = pl.concat([series.head(1), series.tail(1)])
    ordered.join(ends, on=SERIES_KEYS).write_parquet(folder / "a.parquet")
    ordered.join(ends, on=SERIES_KEYS, how="anti").write_parquet(folder / "b.parquet")
    taken = _paths_taken(monkeypatch)
    rows = run_spark(spark, folder, params, country, out)
    # The files' footers show their club ranges overlap: no build in file order first.
    assert taken == ["_regrouped"]
    local = build_features(pl.read_parquet(folder), params, country)
    assert rows == local.height
    assert_frame_equal(pl.read_parquet(out), local)
    assert [p.name for p in tmp_path.iterdir()] == ["raw", "features.parquet"]


@pytest.mark.parametrize(
    "disorder", ["a repeated row", "a repeated day, other values", "a null id"]
)
def test_a_missing_or_repeated_key_is_the_same_one_line_on_both_engines(
    tmp_path, raw, spark, repo_params: PipelineParams, monkeypatch, disorder: str
) -> None:
    # Both engines would build such rows differently (which of two values is the day's; where a
    # series without an item begins): both refuse them, as the raw_sales contract does.
    ordered = raw.sort(KEYS)
    folder = tmp_path / "raw"
    folder.mkdir()
    if disorder == "a repeated row":
        pl.concat([ordered.head(1000), ordered.slice(999)]).write_parquet(folder / "a.parquet")
        expected = "a club, item and day sold in more than one row, e.g. "
    elif disorder.startswith("a repeated day"):
        # In two files, the second's units other: the same key, two values.
        ordered.write_parquet(folder / "a.parquet")
        again = ordered.slice(5000, 40).with_columns(pl.col("units_sold") + 1000)
        again.write_parquet(folder / "b.parquet")
        expected = "a club, item and day sold in more than one row, e.g. "
    else:
        missing = pl.when(pl.int_range(pl.len()) == 5000).then(None).otherwise(pl.col("item_id"))
        ordered.with_columns(missing.alias("item_id")).write_parquet(folder / "a.parquet")
        expected = "column 'item_id' has missing values: every sale needs its club and item"
    taken = _paths_taken(monkeypatch)
    local, on_spark = _on_both_engines(spark, folder, tmp_path / "f.parquet", repo_params)
    assert isinstance(local, str) and local.startswith(f"{folder}: {expected}"), local
    assert on_spark == local
    assert "_in_file_order" not in taken  # never built in file order: regrouped or refused
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


def _two_files_out_of_order(raw: pl.DataFrame, folder: Path, name: str = "part") -> pl.DataFrame:
    """``raw`` shuffled into two files (every club in both: Spark regroups them at once)."""
    shuffled = raw.sample(fraction=1.0, shuffle=True, seed=3)
    half = shuffled.height // 2
    folder.mkdir(parents=True, exist_ok=True)
    shuffled.head(half).write_parquet(folder / f"{name}-0.parquet", row_group_size=4_000)
    shuffled.slice(half).write_parquet(folder / f"{name}-1.parquet", row_group_size=4_000)
    return shuffled


@pytest.mark.parametrize(
    "case",
    [
        "a folder Spark would list otherwise",
        "a Delta table whose later version adds a raw column",
        "dates in nanoseconds",
        "a data page that does not decode",
    ],
)
def test_raw_out_of_order_is_read_as_the_local_engine_reads_it(
    tmp_path, raw, spark, repo_params: PipelineParams, monkeypatch, case: str
) -> None:
    # Out of key order the workers read the row groups (not Spark's own reader), as the local
    # engine does: the same files, the same schema, the same types, the same one-line error.
    folder = tmp_path / "raw"
    if case.startswith("a folder"):
        # Data below a partition-like folder; beside it a file not named .parquet and notes:
        # neither is data for either engine.
        _two_files_out_of_order(raw, folder / "batch=2")
        raw.head(100).write_parquet(folder / "extra.parq")
        (folder / "notes.txt").write_text("not data", encoding="utf-8")
    elif case.startswith("a Delta"):
        from deltalake import write_deltalake

        shuffled = raw.sample(fraction=1.0, shuffle=True, seed=3)
        half = shuffled.height // 2
        write_deltalake(str(folder), shuffled.head(half).drop("promo").to_arrow())
        write_deltalake(
            str(folder), shuffled.slice(half).to_arrow(), mode="append", schema_mode="merge"
        )
    elif case.startswith("dates"):
        # As pandas writes dates: timestamps in nanoseconds, which Spark's reader refuses.
        nanos = raw.with_columns(pl.col("date").cast(pl.Datetime("ns")))
        _two_files_out_of_order(nanos, folder)
    else:
        from tests.forecast.test_stage_inputs import _corrupt_pages

        _two_files_out_of_order(raw, folder)
        _corrupt_pages(folder / "part-1.parquet", "price")
    taken = _paths_taken(monkeypatch)
    local, on_spark = _on_both_engines(spark, folder, tmp_path / "f.parquet", repo_params)
    assert "_in_file_order" not in taken  # the footers sent it straight to the shuffle
    if case.startswith("a data page"):
        assert isinstance(local, str) and local.startswith(f"{folder}: cannot read: "), local
        assert on_spark == local
        return
    assert isinstance(local, pl.DataFrame) and isinstance(on_spark, pl.DataFrame), (local, on_spark)
    assert_frame_equal(on_spark, local)
    if not case.startswith("a Delta"):  # there, the older rows' promo is missing
        assert_frame_equal(local, build_features(raw, repo_params.features, "US"))


def test_edges_are_the_first_and_last_series_of_a_partition() -> None:
    keys = [("c1", "i1")] * 3 + [("c1", "i2")] * 2 + [("c2", "i1")] * 4
    chunk = pl.DataFrame({"club_id": [c for c, _ in keys], "item_id": [i for _, i in keys]})
    chunk = chunk.with_row_index("n")
    inner, edge = _split_edges(chunk, first=True, last=True)
    assert inner["n"].to_list() == [3, 4] and edge["n"].to_list() == [0, 1, 2, 5, 6, 7, 8]
    inner, edge = _split_edges(chunk, first=True, last=False)
    assert inner["n"].to_list() == [3, 4, 5, 6, 7, 8] and edge["n"].to_list() == [0, 1, 2]
    inner, edge = _split_edges(chunk, first=False, last=True)
    assert inner["n"].to_list() == [0, 1, 2, 3, 4] and edge["n"].to_list() == [5, 6, 7, 8]
    one = chunk.head(3)  # one series, maybe begun and continued elsewhere: all edge
    inner, edge = _split_edges(one, first=True, last=True)
    assert inner.height == 0 and edge["n"].to_list() == [0, 1, 2]


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
    done = _prepare_on_spark(tmp_path, raw_path, spark_out)
    assert done.returncode == 0, done.stderr
    local = pl.read_parquet(local_out)
    assert done.stdout == f"prepare: {local.height:,} feature rows -> {spark_out}\n"
    assert "Traceback" not in done.stderr
    # One file, in key order, as train and evaluate read it; no parts left beside it.
    assert [p.name for p in spark_out.parent.iterdir()] == [spark_out.name]
    assert_frame_equal(pl.read_parquet(spark_out), local)


def _prepare_on_spark(root: Path, raw: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """`python -m forecast prepare` with params.yaml (written in ``root``) saying spark."""
    command = ["--params", str(_params_file(root, "spark")), "prepare", "--raw", str(raw)]
    return subprocess.run(
        [sys.executable, "-m", "forecast", *command, "--out", str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _on_both_engines(spark, raw_path: Path, out: Path, params: PipelineParams) -> list[object]:
    """forecast.features.run on each engine (Spark: the test session), each into its own file:
    the local table and Spark's, or the one-line error each gave."""
    from conveyor.compute.params import ComputeParams
    from conveyor.compute.session import spark_failures
    from conveyor.errors import UserError
    from forecast import features

    found: list[object] = []
    for engine in ("local", "spark"):
        target = out.with_name(f"{engine}-{out.name}")
        compute = ComputeParams.model_validate({"engine": engine})
        try:
            with spark_failures("prepare"):
                features.run(raw_path, params.features, "US", target, compute)
            found.append(pl.read_parquet(target))
        except UserError as error:
            found.append(str(error))
            assert not target.exists()
    return found


def test_a_folder_spark_wrote_is_read_by_both_engines(tmp_path, raw, spark, repo_params) -> None:
    # Spark's own output: part files beside _SUCCESS and .crc checksum files.
    folder = tmp_path / "raw"
    spark.createDataFrame(raw.to_arrow()).write.parquet(str(folder))
    assert {p.name for p in folder.iterdir() if not p.name.startswith("part-")} >= {"_SUCCESS"}
    local, on_spark = _on_both_engines(spark, folder, tmp_path / "f.parquet", repo_params)
    assert isinstance(local, pl.DataFrame) and isinstance(on_spark, pl.DataFrame)
    assert_frame_equal(on_spark, local)
    assert_frame_equal(local, build_features(raw, repo_params.features, "US"))


def test_a_delta_table_is_built_from_its_current_version_on_both_engines(
    tmp_path, raw, spark, repo_params
) -> None:
    from deltalake import write_deltalake

    table = tmp_path / "raw"
    # A first version with other units; the overwrite's files are the table, and an append
    # that adds a column (null in the older file: both engines read it in the log's schema).
    write_deltalake(str(table), raw.with_columns(pl.col("units_sold") * 3).to_arrow())
    late = pl.col("date") >= raw["date"].max() - dt.timedelta(days=30)
    write_deltalake(str(table), raw.filter(~late).to_arrow(), mode="overwrite")
    added = raw.filter(late).with_columns(note=pl.lit("n"))
    write_deltalake(str(table), added.to_arrow(), mode="append", schema_mode="merge")
    local, on_spark = _on_both_engines(spark, table, tmp_path / "f.parquet", repo_params)
    assert isinstance(local, pl.DataFrame) and isinstance(on_spark, pl.DataFrame)
    assert_frame_equal(on_spark, local)
    assert_frame_equal(local, build_features(raw, repo_params.features, "US"))


def test_an_extra_column_and_numeric_keys_change_nothing(tmp_path, raw, spark, repo_params) -> None:
    # Item ids as integers (ordered as text by both, "10" before "2"), and a column the stage
    # does not read whose name holds a dot (Spark would take it for a struct field).
    numbered = raw.with_columns(
        pl.col("item_id").str.extract(r"(\d+)$").cast(pl.Int64), pl.lit(1).alias("note.v2")
    )
    raw_path = tmp_path / "raw.parquet"
    numbered.write_parquet(raw_path)
    local, on_spark = _on_both_engines(spark, raw_path, tmp_path / "f.parquet", repo_params)
    assert isinstance(local, pl.DataFrame) and isinstance(on_spark, pl.DataFrame)
    assert on_spark["item_id"].to_list() == local["item_id"].to_list()
    assert_frame_equal(on_spark, local)
    # Ids as floats have no one text form (polars "10000000.0", Spark "1.0E7"): refused alike.
    numbered.with_columns(pl.col("item_id").cast(pl.Float64)).write_parquet(raw_path)
    local, on_spark = _on_both_engines(spark, raw_path, tmp_path / "g.parquet", repo_params)
    assert (
        local
        == on_spark
        == (f"{raw_path}: column 'item_id' holds floats (Float64): write ids as text or integers")
    )


def test_a_value_a_worker_cannot_type_is_the_local_engines_one_line(
    tmp_path, raw, spark, repo_params
) -> None:
    bad = raw.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.lit("abc"))
        .otherwise(pl.col("price").cast(pl.String))
        .alias("price")
    )
    raw_path = tmp_path / "raw.parquet"
    bad.write_parquet(raw_path)
    local, on_spark = _on_both_engines(spark, raw_path, tmp_path / "f.parquet", repo_params)
    assert isinstance(local, str) and local.startswith(
        f"{raw_path}: column 'price' has type String"
    )
    assert on_spark == local
    assert [p.name for p in tmp_path.iterdir()] == ["raw.parquet"]
    # The command: the one line, not a failed task's Spark error log and Java stack trace.
    out = tmp_path / "features" / "f.parquet"
    done = _prepare_on_spark(tmp_path, raw_path, out)
    assert done.returncode == 2, done.stderr
    # The JVM's own notice of its incubator module may come first; nothing else does.
    lines = [line for line in done.stderr.splitlines() if "incubator modules" not in line]
    assert lines == [f"error: prepare: {local}"], done.stderr
    assert not out.parent.exists()  # nor the folder made for it


def test_series_too_short_for_any_feature_give_the_local_empty_table(
    tmp_path, raw, spark, repo_params
) -> None:
    # Two series of 20 days (the smallest lag is longer): every series is an edge, none has a
    # row with history.
    series = raw.select(SERIES_KEYS).unique(maintain_order=True).head(2)
    short = raw.join(series, on=SERIES_KEYS).filter(
        pl.col("date") < pl.col("date").min() + pl.duration(days=20)
    )
    raw_path = tmp_path / "raw.parquet"
    short.sort(KEYS).write_parquet(raw_path)
    local, on_spark = _on_both_engines(spark, raw_path, tmp_path / "f.parquet", repo_params)
    assert isinstance(local, pl.DataFrame) and isinstance(on_spark, pl.DataFrame)
    assert local.height == 0
    assert_frame_equal(on_spark, local)


def test_pages_a_worker_cannot_read_are_the_local_engines_one_line(
    tmp_path, raw, spark, repo_params
) -> None:
    from tests.forecast.test_stage_inputs import _corrupt_pages

    raw_path = tmp_path / "raw.parquet"
    raw.sort(KEYS).write_parquet(raw_path, compression="zstd", row_group_size=5_000)
    _corrupt_pages(raw_path, "price")  # the first row group's prices
    local, on_spark = _on_both_engines(spark, raw_path, tmp_path / "f.parquet", repo_params)
    assert isinstance(local, str) and local.startswith(f"{raw_path}: cannot read: ")
    assert on_spark == local
    assert [p.name for p in tmp_path.iterdir()] == ["raw.parquet"]


def test_a_sale_without_a_date_is_the_same_one_line_on_both_engines(
    tmp_path, raw, spark, repo_params
) -> None:
    undated = raw.sort(KEYS).with_columns(
        pl.when(pl.int_range(pl.len()) == pl.len() - 1)
        .then(None)
        .otherwise(pl.col("date"))
        .alias("date")
    )
    raw_path = tmp_path / "raw.parquet"
    undated.write_parquet(raw_path)
    local, on_spark = _on_both_engines(spark, raw_path, tmp_path / "f.parquet", repo_params)
    assert local == f"{raw_path}: column 'date' has missing values: every sale needs its day"
    assert on_spark == local
    assert [p.name for p in tmp_path.iterdir()] == ["raw.parquet"]
