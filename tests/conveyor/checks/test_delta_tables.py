"""A Delta table as a data set: checked as its current version (not every Parquet file below its
folder), in its declared schema, and refused in one line where its files alone would mislead.
Tables written by delta-rs (`deltalake.write_deltalake`), checked by real Great Expectations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake

from conveyor.checks.contract import load_contract
from conveyor.checks.dataio import mixed_schema, read_frame, require_readable
from conveyor.checks.gx_backend import GreatExpectationsBackend
from conveyor.checks.validate import check
from conveyor.delta_table import delta_snapshot, is_delta_table
from conveyor.errors import DataError, UserError
from conveyor.stored_data import parquet_files

CONTRACT = """\
name: sales
key: [club_id, item_id]
rows: {min: 2}
allow_extra_columns: true
columns:
  club_id: {type: string, regex: '^\\d{3}$'}
  item_id: {type: integer}
  units_sold: {type: integer, min: 0}
"""

SALES = pl.DataFrame(
    {"club_id": ["007", "007", "012"], "item_id": [1, 2, 1], "units_sold": [3, 0, 5]}
)


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    path = tmp_path / "sales.yaml"
    path.write_text(CONTRACT)
    return path


def _table(path: Path, *versions: pl.DataFrame, **options: object) -> Path:
    """A Delta table whose first version is the first frame, each next one overwriting it."""
    for number, frame in enumerate(versions):
        mode = "overwrite" if number else "error"
        write_deltalake(str(path), frame.to_arrow(), mode=mode, **options)  # type: ignore[arg-type]
    return path


def _conveyor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args], capture_output=True, text=True, check=False
    )


def test_only_the_current_version_is_checked(tmp_path: Path, contract_file: Path) -> None:
    # The first version breaks the key and a range; the overwrite fixes both. Its files are
    # still in the folder: read as a folder of Parquet, the table would fail on them.
    broken = pl.concat([SALES, SALES.with_columns(units_sold=pl.lit(-1, pl.Int64))])
    table = _table(tmp_path / "sales", broken, SALES)
    assert len(list(table.glob("*.parquet"))) == 2
    verdict = check(load_contract(contract_file), table, GreatExpectationsBackend())
    assert verdict.passed and verdict.rows == 3
    assert parquet_files(table) == delta_snapshot(table).files
    assert len(parquet_files(table)) == 1

    # And the other way round: a clean first version, a broken current one, fails.
    failing = _table(tmp_path / "failing", SALES, broken)
    verdict = check(load_contract(contract_file), failing, GreatExpectationsBackend())
    assert verdict.rows == 6
    assert {r.rule.id for r in verdict.failures} == {"table.key", "units_sold.range"}


def test_partition_columns_come_back_typed_as_the_log_declares(
    tmp_path: Path, contract_file: Path
) -> None:
    # club_id "007" lives only in the folder name club_id=007: read without the log's schema it
    # would be the integer 7 and fail the contract's regex and type.
    table = _table(tmp_path / "sales", SALES, partition_by=["club_id"])
    assert sorted(p.name for p in table.iterdir()) == ["_delta_log", "club_id=007", "club_id=012"]
    frame = read_frame(table, None)
    assert sorted(frame["club_id"]) == ["007", "007", "012"]
    assert list(frame.columns) == ["club_id", "item_id", "units_sold"]
    verdict = check(load_contract(contract_file), table, GreatExpectationsBackend())
    assert verdict.passed, [r.observed for r in verdict.failures]
    # The stages that read a table's files would lose club_id: refused, naming it.
    with pytest.raises(
        DataError, match=r"partitioned by club_id: .*conveyor check data reads it whole"
    ):
        parquet_files(table)


def test_a_column_added_later_is_missing_in_older_rows_not_a_schema_conflict(
    tmp_path: Path, contract_file: Path
) -> None:
    table = _table(tmp_path / "sales", SALES)
    later = pl.DataFrame({"club_id": ["020"], "item_id": [9], "units_sold": [1], "promo": [1]})
    write_deltalake(str(table), later.to_arrow(), mode="append", schema_mode="merge")
    assert mixed_schema(table) is None
    frame = read_frame(table, None)
    assert len(frame) == 4 and int(frame["promo"].isna().sum()) == 3
    assert check(load_contract(contract_file), table, GreatExpectationsBackend()).passed


def test_the_cli_checks_a_delta_table_and_writes_its_verdict(
    tmp_path: Path, contract_file: Path
) -> None:
    table = _table(tmp_path / "sales", SALES.with_columns(units_sold=pl.Series([3, -4, 5])))
    out = tmp_path / "out"
    done = _conveyor("check", "data", str(contract_file), str(table), "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("FAIL [error] sales: units_sold.range:")
    verdict = json.loads((out / "sales.json").read_text())
    assert verdict["data"] == str(table) and verdict["rows"] == 3 and not verdict["passed"]


@pytest.mark.parametrize(
    ("configuration", "feature"),
    [
        ({"delta.enableDeletionVectors": "true"}, "deletionVectors"),
        ({"delta.columnMapping.mode": "name"}, "columnMapping"),
    ],
)
def test_a_table_its_files_would_misread_is_refused_in_one_line(
    tmp_path: Path, contract_file: Path, configuration: dict[str, str], feature: str
) -> None:
    table = _table(tmp_path / "sales", SALES, configuration=configuration)
    with pytest.raises(UserError, match=feature):
        delta_snapshot(table)
    out = tmp_path / "out"
    done = _conveyor("check", "data", str(contract_file), str(table), "--out", str(out))
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith(f"error: {table}: the Delta table uses {feature}")
    assert done.stderr.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (lambda log: (log / "00000000000000000000.json").write_text("{not json"), "not a "),
        (lambda log: (log / "00000000000000000000.json").unlink(), "not a "),
    ],
)
def test_a_broken_log_is_one_line_exit_2(
    tmp_path: Path, contract_file: Path, spoil: object, said: str
) -> None:
    table = _table(tmp_path / "sales", SALES)
    spoil(table / "_delta_log")  # type: ignore[operator]
    assert is_delta_table(table)
    with pytest.raises(DataError, match=said):  # before any contract runs
        require_readable(table)
    done = _conveyor("check", "data", str(contract_file), str(table), "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith(f"error: {table}: {said}"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_an_empty_table_is_checked_as_no_rows(tmp_path: Path, contract_file: Path) -> None:
    table = _table(tmp_path / "sales", SALES.clear())
    verdict = check(load_contract(contract_file), table, GreatExpectationsBackend())
    assert verdict.rows == 0
    assert [r.rule.id for r in verdict.failures] == ["table.rows"]
    with pytest.raises(DataError, match="a Delta table with no rows"):
        parquet_files(table)


def test_without_the_delta_extra_the_error_names_it(tmp_path: Path, monkeypatch) -> None:
    table = _table(tmp_path / "sales", SALES)
    monkeypatch.setattr("conveyor.extras.missing", lambda extra: ["deltalake"])
    with pytest.raises(
        UserError, match=r"needs conveyor\[delta\]: pip install 'conveyor\[delta\]'"
    ):
        read_frame(table, None)


def test_a_file_of_the_table_that_does_not_read_is_one_line_naming_it(
    tmp_path: Path, contract_file: Path
) -> None:
    table = _table(tmp_path / "sales", SALES)
    (broken,) = table.glob("*.parquet")
    broken.write_text("garbage")
    done = _conveyor("check", "data", str(contract_file), str(table), "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith(f"error: {broken}: cannot read: "), done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "o").exists()


CHECKPOINT = "_delta_log/00000000000000000001.checkpoint.parquet"


@pytest.mark.parametrize("inside", ["_delta_log", CHECKPOINT])
def test_the_log_itself_is_not_a_data_set(tmp_path: Path, contract_file: Path, inside: str) -> None:
    from deltalake import DeltaTable

    table = _table(tmp_path / "sales", SALES, SALES)
    DeltaTable(str(table)).create_checkpoint()  # a Parquet file in the log
    for location in (str(table / inside), (table / inside).as_uri()):
        out = tmp_path / "o"
        done = _conveyor("check", "data", str(contract_file), location, "--out", str(out))
        assert done.returncode == 2, done.stdout
        assert done.stderr == (
            f"error: {location}: a Delta table's log, not data: give the table's folder "
            f"({location.split('/_delta_log')[0]})\n"
        )
        assert not out.exists()


def test_an_empty_text_partition_value_is_missing_as_delta_reads_it(tmp_path: Path) -> None:
    # delta-rs writes "" into the folder `region=` and the log; Delta reads it as null.
    regions = SALES.with_columns(region=pl.Series(["é", None, ""]))
    table = _table(tmp_path / "sales", regions, partition_by=["region"])
    frame = read_frame(table, None)
    by_units = dict(zip(frame["units_sold"], frame["region"], strict=True))
    assert by_units[3] == "é"
    assert frame["region"].isna().sum() == 2  # the null and the empty text
