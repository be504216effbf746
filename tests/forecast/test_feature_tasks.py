"""How the `prepare` stage on Spark cuts raw sales in key order into tasks (forecast.features_spark
._tasks): whole row groups, each once, in file order, sized by Spark's settings. Spark itself
cuts the same files into the same partitions: tests/spark/test_spark_features.py."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from conveyor.errors import UserError
from forecast.features_spark import Slice, _tasks, spark_bytes

MB = 1024 * 1024


def _file(path: Path, rows: int, row_group_rows: int) -> Path:
    # Incompressible prices: the file's bytes grow with its rows.
    frame = pl.DataFrame({"n": range(rows)}).with_columns(
        (pl.col("n").hash(7) % 1_000_003).alias("price")
    )
    frame.write_parquet(path, row_group_size=row_group_rows, compression="uncompressed")
    return path


def _rows(tasks: list[list[Slice]]) -> list[list[tuple[str, int, int]]]:
    return [[(Path(s.file).name, s.offset, s.rows) for s in task] for task in tasks]


def test_every_row_group_is_in_one_task_once_in_file_order(tmp_path) -> None:
    files = [_file(tmp_path / "a.parquet", 1000, 100), _file(tmp_path / "b.parquet", 250, 100)]
    # Splits smaller than a row group: a task per row group, none cut, none empty.
    tasks = _tasks(files, max_bytes=1000, open_cost=1000, least=2)
    pieces = [piece for task in tasks for piece in task]
    assert [(Path(p.file).name, p.offset, p.rows) for p in pieces] == [
        *(("a.parquet", offset, 100) for offset in range(0, 1000, 100)),
        ("b.parquet", 0, 100),
        ("b.parquet", 100, 100),
        ("b.parquet", 200, 50),
    ]
    assert all(task for task in tasks)


def test_a_file_of_one_row_group_is_one_task_however_small_the_splits(tmp_path) -> None:
    one = _file(tmp_path / "one.parquet", 5000, 5000)
    assert _rows(_tasks([one], max_bytes=1000, open_cost=100, least=8)) == [
        [("one.parquet", 0, 5000)]
    ]


def test_the_cores_cut_small_data_and_the_partition_size_caps_big_data(tmp_path) -> None:
    file = _file(tmp_path / "a.parquet", 40_000, 1000)
    # Spark's defaults (128 MB, 4 MB): ~0.6 MB is one task however many the cores (a split is
    # at least the open cost); with a smaller open cost, the cores cut it.
    assert len(_tasks([file], 128 * MB, 4 * MB, least=8)) == 1
    assert len(_tasks([file], 128 * MB, 100_000, least=2)) == 2
    # Without an open cost, eight cores cut it in eight (row groups of about equal bytes; the
    # file's bytes include its footer, so the last split holds less).
    eight = [sum(s.rows for s in task) for task in _tasks([file], 128 * MB, 0, least=8)]
    assert len(eight) == 8 and sum(eight) == 40_000 and min(eight) >= 4000, eight
    # A partition size below the cores' share wins: tasks of at most ~its bytes.
    size = file.stat().st_size
    capped = _tasks([file], size // 20, 0, least=2)
    assert 19 <= len(capped) <= 21


@pytest.mark.parametrize(
    ("text", "expected"),
    [("134217728b", 134217728), ("4194304", 4194304), ("64m", 64 * MB), ("1GB", 1024 * MB)],
)
def test_spark_sizes_read_as_spark_reads_them(text: str, expected: int) -> None:
    assert spark_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "1.5g", "", None, "12 parsecs"])
def test_a_size_that_is_not_one_is_a_one_line_error(text: str | None) -> None:
    with pytest.raises(UserError, match=r"cannot read .* as a size in bytes"):
        spark_bytes(text)
