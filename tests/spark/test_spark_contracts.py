"""The data contracts on Spark give the verdicts of the local engine: on the clean data and on
every corruption the contract tests use, the same rules fail, with the same counts and samples.
Real Spark (local[2]) and real Great Expectations."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conveyor.checks.contract import Contract, Distinct, load_contract
from conveyor.checks.dataio import read_frame, read_spark
from conveyor.checks.gx_backend import GreatExpectationsBackend
from conveyor.checks.validate import check, check_frame
from conveyor.checks.verdict import Verdict
from conveyor.compute.session import spark_failures
from conveyor.errors import UserError
from tests.conveyor.checks.test_checks import BAD_INPUTS, RAW_CONTRACT

pytestmark = pytest.mark.spark

CASES = {"clean data": (lambda frame: frame, None), **BAD_INPUTS}


def _contract() -> Contract:
    """The pipeline's raw-sales contract, its row bounds scaled to the smaller data."""
    contract = load_contract(RAW_CONTRACT)
    # A distinct-count rule too (the batch contract's), held to the local verdict like the rest.
    club = contract.columns["club_id"].model_copy(update={"distinct": Distinct(min=2, max=50)})
    return contract.model_copy(
        update={
            "rows": contract.rows.model_copy(update={"min": 10_000}),
            "columns": {**contract.columns, "club_id": club},
        }
    )


@pytest.fixture(scope="module")
def backend() -> GreatExpectationsBackend:
    return GreatExpectationsBackend()


def _outcomes(verdict: Verdict) -> dict[str, tuple[bool, int | None]]:
    """Each rule's pass/fail and failing-row count: what must not depend on the engine."""
    return {r.rule.id: (r.passed, r.failing_rows) for r in verdict.results}


@pytest.mark.parametrize("case", list(CASES))
def test_spark_gives_the_local_verdict(tmp_path, sales, spark, backend, case) -> None:
    corrupt, rule_id = CASES[case]
    path = tmp_path / "raw.parquet"
    corrupt(sales).write_parquet(path)
    contract = _contract()
    local = check_frame(contract, read_frame(path, contract), path, backend)
    on_spark = check_frame(contract, read_spark(spark, path, contract), path, backend)
    assert on_spark.rows == local.rows
    assert _outcomes(on_spark) == _outcomes(local)
    assert on_spark.passed is (rule_id is None)
    if rule_id is not None:
        assert rule_id in {r.rule.id for r in on_spark.failures}
    # Samples of failing rows carry the row key on both engines.
    for spark_result, local_result in zip(on_spark.results, local.results, strict=True):
        assert [sorted(row) for row in spark_result.sample] == [
            sorted(row) for row in local_result.sample
        ], spark_result.rule.id


def test_a_clean_check_scans_the_data_far_fewer_times_than_it_has_rules(
    tmp_path, sales, spark, backend
) -> None:
    # GX would run one job per row rule to fetch failing values even when none fails (55 jobs
    # for 52 rules): the counts come from bundled aggregations, the values only where rows fail.
    path = tmp_path / "raw.parquet"
    sales.write_parquet(path)
    frame = read_spark(spark, path, _contract())
    frame.count()  # the read and the cache, apart from the check
    group = f"clean-check-{tmp_path.name}"
    spark.sparkContext.setJobGroup(group, "the contract check")
    try:
        verdict = check_frame(_contract(), frame, path, backend)
    finally:
        spark.sparkContext.setJobGroup("", "")
    jobs = spark.sparkContext.statusTracker().getJobIdsForGroup(group)
    assert verdict.passed and len(verdict.results) >= 40
    assert 0 < len(jobs) <= len(verdict.results) // 2


def test_csv_on_spark_parses_the_contract_dates(tmp_path, sales, spark, backend) -> None:
    path = tmp_path / "raw.csv"
    sales.with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(-1)
        .otherwise(pl.col("units_sold"))
        .alias("units_sold")
    ).write_csv(path)
    verdict = check(_contract(), path, backend, spark)
    assert [r.rule.id for r in verdict.failures] == ["units_sold.range"]
    sample = verdict.failures[0].sample[0]
    assert sample["units_sold"] == -1 and sample["date"] == "2023-01-01"


def _folder_with_two_schemas(root: Path, sales: pl.DataFrame) -> Path:
    folder = root / "sales"
    (folder / "part=a").mkdir(parents=True)
    (folder / "part=b").mkdir()
    sales.head(1000).write_parquet(folder / "part=a" / "0.parquet")
    sales.slice(1000, 1000).with_columns(pl.col("price").cast(pl.String)).write_parquet(
        folder / "part=b" / "0.parquet"
    )
    return folder


def test_files_that_disagree_on_a_column_fail_the_contract_naming_it(
    tmp_path, sales, spark, backend
) -> None:
    folder = _folder_with_two_schemas(tmp_path, sales)
    for engine, data in itertools.product((None, spark), (folder, folder.as_uri())):
        verdict = check(_contract(), data, backend, engine)
        assert not verdict.passed and verdict.rows == 2000
        (failure,) = verdict.failures
        assert failure.rule.id == "table.schema" and failure.rule.column == "price"
        assert re.fullmatch(
            r"price: double in part=a/0.parquet, (large_)?string in part=b/0.parquet",
            failure.observed,
        )


def _conveyor(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "GX_ANALYTICS_ENABLED": "False"},
    )


def _rules(report: dict[str, Any]) -> dict[tuple[str, str], bool]:
    """(data set, rule id) -> passed, from a verdict file covering several data sets."""
    return {(Path(rule["data"]).name, rule["id"]): rule["passed"] for rule in report["rules"]}


def test_check_data_with_engine_spark_writes_the_local_verdicts(tmp_path, sales, backend) -> None:
    """The command as a stage runs it: params.yaml says spark, nothing else changes."""
    bad = tmp_path / "raw.parquet"
    BAD_INPUTS["negative units"][0](sales).write_parquet(bad)
    folder = _folder_with_two_schemas(tmp_path, sales)
    (tmp_path / "params.yaml").write_text(
        "compute:\n  engine: spark\n  spark: {master: 'local[2]'}\n", encoding="utf-8"
    )
    contract = str(RAW_CONTRACT)
    # The Parquet file as a URL (Spark's filesystem reads it), the folder as a relative path.
    args = ["check", "data", contract, bad.as_uri(), contract, folder.name, "--out", "spark"]
    on_spark = _conveyor(tmp_path, *args)
    assert on_spark.returncode == 1, on_spark.stderr
    assert "Traceback" not in on_spark.stderr and "Exception" not in on_spark.stderr
    report = json.loads((tmp_path / "spark" / "raw_sales.json").read_text())
    local = [check(load_contract(RAW_CONTRACT), path, backend) for path in (bad, folder)]
    assert _rules(report) == {
        (str(verdict.data.name), r.rule.id): r.passed for verdict in local for r in verdict.results
    }
    assert "FAIL [critical] raw_sales: table.schema: " in on_spark.stdout
    assert "FAIL [error] raw_sales: units_sold.range" in on_spark.stdout


def test_spark_stopping_mid_run_is_one_line_not_a_stack_trace(spark) -> None:
    with (
        pytest.raises(UserError, match=r"^check data: Spark stopped: .*boom.* spark.driver.memory"),
        spark_failures("check data"),
    ):
        spark.sql("SELECT raise_error('boom')").collect()


def test_nan_is_read_as_missing_whatever_the_columns_name_and_float_width(tmp_path, spark) -> None:
    path = tmp_path / "data.parquet"
    pl.DataFrame(
        {
            "price.eur": [1.0, float("nan"), None],
            "unit cost": pl.Series([float("nan"), 2.0, 3.0], dtype=pl.Float32),
            "`quoted`": [1, 2, 3],
        }
    ).write_parquet(path)
    frame = read_spark(spark, path, None)
    assert [f.dataType.simpleString() for f in frame.schema.fields] == ["double", "float", "bigint"]
    rows = [tuple(row) for row in frame.collect()]
    assert rows == [(1.0, None, 1), (None, 2.0, 2), (None, 3.0, 3)]


@pytest.mark.parametrize("drop", [None, "price.eur"])
def test_a_dot_in_a_column_name_gives_the_local_verdict(tmp_path, spark, backend, drop) -> None:
    # GX's Spark metrics name a dotted column in backticks: the rules must find it all the same,
    # and the verdict name it as the data does.
    contract = Contract.model_validate(
        {
            "name": "dotted",
            "description": "columns whose names hold a dot or a space",
            "key": ["id"],
            "rows": {"min": 1, "max": 100},
            "allow_extra_columns": False,
            "columns": {
                "id": {"type": "integer"},
                "price.eur": {"type": "float", "min": 0, "max": 10},
                "unit cost": {"type": "float", "min": 0},
            },
        }
    )
    data = pl.DataFrame(
        {"id": [1, 2, 3], "price.eur": [1.0, 20.0, 3.0], "unit cost": [1.0, 2.0, -1.0]}
    )
    path = tmp_path / "data.parquet"
    (data.drop(drop) if drop else data).write_parquet(path)
    local = check_frame(contract, read_frame(path, contract), path, backend)
    on_spark = check_frame(contract, read_spark(spark, path, contract), path, backend)
    assert _outcomes(on_spark) == _outcomes(local)
    assert [r.observed for r in on_spark.results if r.rule.id == "table.columns"] == [
        r.observed for r in local.results if r.rule.id == "table.columns"
    ]
    failed = {r.rule.id for r in on_spark.failures}
    if drop:
        assert failed == {"table.columns", "price.eur.exists", "unit cost.range"}
        columns = next(r for r in on_spark.results if r.rule.id == "table.columns")
        assert columns.observed == "missing ['price.eur']"
    else:
        assert failed == {"price.eur.range", "unit cost.range"}
        range_rule = next(r for r in on_spark.results if r.rule.id == "price.eur.range")
        assert [row["id"] for row in range_rule.sample] == [2]


def _delta_versions(path: Path, *versions: pl.DataFrame, **options: Any) -> Path:
    """A Delta table (delta-rs) whose current version is the last frame, each overwriting the
    one before: the earlier versions' files stay in the folder."""
    from deltalake import write_deltalake

    for number, frame in enumerate(versions):
        mode = "overwrite" if number else "error"
        write_deltalake(str(path), frame.to_arrow(), mode=mode, **options)
    return path


@pytest.mark.parametrize("partitioned", [False, True], ids=["files", "partitioned by club"])
@pytest.mark.parametrize("case", ["clean data", "duplicate keys", "negative units"])
def test_a_delta_table_gives_the_local_verdict_on_its_current_version(
    tmp_path, sales, spark, backend, partitioned, case
) -> None:
    corrupt = CASES[case][0]
    # The first version is broken another way (a null price): only the current one counts.
    stale = BAD_INPUTS["null prices"][0](sales)
    options = {"partition_by": ["club_id"]} if partitioned else {}
    table = _delta_versions(tmp_path / "sales", stale, corrupt(sales), **options)
    contract = _contract()
    local = check(contract, table, backend)
    # As a URL (Spark's own filesystem reads it; an s3a:// or abfss:// URL the same way on a
    # cluster with its connector).
    on_spark = check(contract, table.as_uri(), backend, spark)
    assert on_spark.rows == local.rows == len(corrupt(sales))
    assert _outcomes(on_spark) == _outcomes(local)
    assert "price.not_null" not in {r.rule.id for r in on_spark.failures}
    assert on_spark.passed is (case == "clean data")
    for spark_result, local_result in zip(on_spark.results, local.results, strict=True):
        assert [sorted(row) for row in spark_result.sample] == [
            sorted(row) for row in local_result.sample
        ], spark_result.rule.id


def test_a_delta_table_on_spark_keeps_the_logs_types_and_later_columns(tmp_path, spark) -> None:
    from deltalake import write_deltalake

    # Values delta-rs writes escaped in the folder names (`club=%C3%A9`): Spark alone would
    # read each %XX as one character.
    first = pl.DataFrame({"club": ["007", "012", "é", "a b"], "units": [1, 2, 4, 5]})
    table = _delta_versions(tmp_path / "t", first, partition_by=["club"])
    later = pl.DataFrame({"club": ["007"], "units": [3], "promo": [1]})
    write_deltalake(str(table), later.to_arrow(), mode="append", schema_mode="merge")
    frame, local = read_spark(spark, table, None), read_frame(table, None)
    # The columns in the log's order on both engines (delta-rs puts a merge's partition column
    # after the others).
    assert frame.columns == list(local.columns)
    assert sorted(frame.columns) == ["club", "promo", "units"]
    rows = sorted((r["club"], r["units"], r["promo"]) for r in frame.collect())
    # "007" stays text (its folder name alone would read as the integer 7).
    assert rows == [
        ("007", 1, None),
        ("007", 3, 1),
        ("012", 2, None),
        ("a b", 5, None),
        ("é", 4, None),
    ]
    assert sorted(local["club"]) == ["007", "007", "012", "a b", "é"]
    assert int(local["promo"].isna().sum()) == 4
