"""Data contracts with real Great Expectations: good data passes, each kind of bad data fails
with a message naming the rule and the column, and malformed contracts are usage errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import yaml

from conveyor.checks.contract import load_contract
from conveyor.checks.dataio import read_frame
from conveyor.checks.gx_backend import GreatExpectationsBackend
from conveyor.checks.profile import propose, to_yaml
from conveyor.checks.validate import check, write_outputs
from conveyor.checks.verdict_text import terminal_lines
from conveyor.errors import ConfigError, DataError
from forecast.features import build_features
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

RAW_CONTRACT = REPO / "policies/data/raw_sales.yaml"
FEATURES_CONTRACT = REPO / "policies/data/features.yaml"


@pytest.fixture(scope="session")
def backend() -> GreatExpectationsBackend:
    """One GX context for the whole session, as `conveyor check data` uses one per process."""
    return GreatExpectationsBackend()


def _write(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


def test_default_data_passes_both_contracts(tmp_path, default_sales, repo_params, backend):
    raw = check(
        load_contract(RAW_CONTRACT), _write(default_sales, tmp_path / "raw.parquet"), backend
    )
    assert raw.passed, terminal_lines(raw)
    features = build_features(default_sales, repo_params.features, "US")
    verdict = check(
        load_contract(FEATURES_CONTRACT), _write(features, tmp_path / "f.parquet"), backend
    )
    assert verdict.passed, terminal_lines(verdict)
    assert len(verdict.results) > 50


def _rows(frame: pl.DataFrame, n: int = 40) -> pl.Expr:
    return pl.int_range(pl.len()) < n


def _set_some(column: str, value: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.with_columns(
        pl.when(_rows(f)).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


BAD_INPUTS: dict[str, tuple[Callable[[pl.DataFrame], pl.DataFrame], str]] = {
    "duplicate keys": (lambda f: pl.concat([f, f.head(25)]), "table.key"),
    "negative units": (_set_some("units_sold", -3), "units_sold.range"),
    "null prices": (_set_some("price", None), "price.not_null"),
    # NaN, not null, in the Parquet file (a 0/0 upstream): missing on both engines.
    "NaN prices": (_set_some("price", float("nan")), "price.not_null"),
    "unknown club": (_set_some("club_id", "club_999"), "club_id.allowed"),
    "unknown category": (_set_some("category", "toys"), "category.allowed"),
    "future date": (
        lambda f: pl.concat(
            [
                f,
                f.filter(pl.col("date") == f["date"].max()).with_columns(
                    pl.col("date") + pl.duration(days=45)
                ),
            ]
        ),
        "date.not_future",
    ),
    "stale data": (lambda f: f.filter(pl.col("date") < dt.date(2025, 11, 1)), "date.freshness"),
    "missing column": (lambda f: f.drop("price"), "price.exists"),
    "strings in units": (
        lambda f: f.with_columns(pl.col("units_sold").cast(pl.String)),
        "units_sold.type",
    ),
    "units x10": (lambda f: f.with_columns(pl.col("units_sold") * 10), "units_sold.mean"),
    "all promotions on": (lambda f: f.with_columns(promo=pl.lit(1, pl.Int8)), "promo.mean"),
    "e-mail in a text column": (_set_some("region", "jane.doe@example.com"), "pii.email.region"),
    "phone number in a text column": (
        _set_some("category", "call 555-201-7788"),
        "pii.phone.category",
    ),
    "raw member id": (
        lambda f: f.with_columns(member_id=pl.format("M{}", pl.int_range(pl.len()))),
        "pii.hashed_id.member_id",
    ),
    "empty data set": (lambda f: f.head(0), "table.rows"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_data_fails_naming_rule_and_column(tmp_path, default_sales, backend, case):
    corrupt, rule_id = BAD_INPUTS[case]
    path = _write(corrupt(default_sales), tmp_path / "raw.parquet")
    verdict = check(load_contract(RAW_CONTRACT), path, backend)
    assert not verdict.passed
    failed = {r.rule.id: r for r in verdict.failures}
    assert rule_id in failed, sorted(failed)
    result = failed[rule_id]
    column = result.rule.column
    line = next(line for line in terminal_lines(verdict) if f": {rule_id}: " in line)
    assert line.startswith(("FAIL [critical]", "FAIL [error]"))
    if column:
        assert column in line
    assert "expected" in line and "observed" in line


def test_worst_failure_comes_first(tmp_path, default_sales, backend):
    # A critical PII leak must be listed before a mere distribution shift.
    frame = _set_some("region", "x@example.org")(default_sales)
    frame = frame.with_columns(pl.col("units_sold") * 10)
    verdict = check(load_contract(RAW_CONTRACT), _write(frame, tmp_path / "raw.parquet"), backend)
    ids = [r.rule.id for r in verdict.failures]
    assert ids[0] == "pii.email.region"
    assert ids.index("pii.email.region") < ids.index("units_sold.mean")


def test_failing_rows_are_sampled_with_their_keys(tmp_path, default_sales, backend):
    frame = _set_some("units_sold", -7)(default_sales)
    verdict = check(load_contract(RAW_CONTRACT), _write(frame, tmp_path / "raw.parquet"), backend)
    write_outputs([verdict], tmp_path / "out", backend)
    report = json.loads((tmp_path / "out/raw_sales.json").read_text())
    assert report["passed"] is False
    entry = next(r for r in report["rules"] if r["id"] == "units_sold.range")
    assert entry["failing_rows"] == 40
    sample = entry["sample"][0]
    assert {"club_id", "item_id", "date"} <= set(sample)
    assert sample["units_sold"] == -7
    assert report["rules"][0]["id"] == "units_sold.range"  # failures first
    markdown = (tmp_path / "out/raw_sales.md").read_text()
    assert "❌" in markdown and "`units_sold.range`" in markdown
    assert (tmp_path / "out/docs/raw_sales/index.html").is_file()


def test_hashed_member_ids_pass_the_pii_guard(tmp_path, default_sales, backend):
    contract = yaml.safe_load(RAW_CONTRACT.read_text())
    contract["allow_extra_columns"] = True
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(contract))
    frame = default_sales.head(400_000).with_columns(
        member_id=pl.Series([_hash(f"member-{i}") for i in range(400_000)])
    )
    verdict = check(load_contract(path), _write(frame, tmp_path / "raw.parquet"), backend)
    results = {r.rule.id: r for r in verdict.results}
    assert results["pii.hashed_id.member_id"].passed
    assert verdict.passed, terminal_lines(verdict)


def test_csv_data_is_checked_like_parquet(tmp_path, default_sales, backend):
    path = tmp_path / "raw.csv"
    _set_some("units_sold", -1)(default_sales).write_csv(path)
    verdict = check(load_contract(RAW_CONTRACT), path, backend)
    assert [r.rule.id for r in verdict.failures] == ["units_sold.range"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\ncolumns: {a: {type: strin}}\n",
            r"contract.yaml:2: columns.a.type: Input should be",
        ),
        (
            "name: x\ncolumns:\n  a: {type: integer, maxx: 3}\n",
            r"contract.yaml:3: columns.a.maxx: unknown key",
        ),
        (
            "name: x\ncolumns: {a: {type: integer}\n",
            r"contract.yaml: line \d+, column \d+: invalid YAML",
        ),
        ("name: x\nkey: [b]\ncolumns: {a: {type: integer}}\n", r"key names column\(s\) \['b'\]"),
        (
            "name: x\ncolumns:\n  a:\n    type: float\n"
            "    distribution: {mean: {min: 5, max: 1}}\n",
            r"contract.yaml:5: columns.a.distribution.mean: min \(5.0\) is greater than max",
        ),
        (
            "name: x\nrows: {min: 0}\ncolumns: {a: {type: integer}}\n",
            r"rows.min must be at least 1",
        ),
    ],
)
def test_malformed_contract_names_line_and_key(tmp_path, text, message):
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_contract(path)


def test_unreadable_data_is_a_usage_error(tmp_path):
    garbage = tmp_path / "raw.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot read"):
        read_frame(garbage, None)
    with pytest.raises(DataError, match="no such data file"):
        read_frame(tmp_path / "missing.parquet", None)


def test_profile_proposes_a_contract_the_data_passes(tmp_path, default_sales, backend):
    frame = default_sales.to_pandas()
    contract_path = tmp_path / "proposed.yaml"
    contract_path.write_text(to_yaml(propose(frame, "proposed", ["club_id", "item_id", "date"])))
    contract = load_contract(contract_path)
    assert contract.columns["club_id"].regex == r"^[a-z]{4}_\d{3}$"
    assert contract.columns["promo"].allowed == [0, 1]
    data = _write(default_sales, tmp_path / "raw.parquet")
    verdict = check(contract, data, backend)
    assert verdict.passed, terminal_lines(verdict)
    shifted = _write(default_sales.with_columns(pl.col("units_sold") * 3), tmp_path / "x3.parquet")
    assert "units_sold.mean" in {r.rule.id for r in check(contract, shifted, backend).failures}


def _conveyor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args], capture_output=True, text=True, check=False
    )


def test_cli_exit_codes(tmp_path, default_sales):
    bad = _write(_set_some("units_sold", -2)(default_sales), tmp_path / "bad.parquet")
    out = tmp_path / "out"
    result = _conveyor("check", "data", str(RAW_CONTRACT), str(bad), "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0].startswith("FAIL [error] raw_sales: units_sold.range:")
    assert (out / "raw_sales.json").is_file()

    malformed = tmp_path / "contract.yaml"
    malformed.write_text("name: x\ncolumns: {a: {type: integer, nullable: maybe}}\n")
    result = _conveyor("check", "data", str(malformed), str(bad), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ")
    assert "columns.a.nullable" in result.stderr and "Traceback" not in result.stderr

    result = _conveyor("check", "data", str(RAW_CONTRACT), str(tmp_path / "nope.parquet"))
    assert result.returncode == 2 and "no such data file" in result.stderr

    result = _conveyor("check", "data", str(RAW_CONTRACT))
    assert result.returncode == 2 and "pairs" in result.stderr


def test_cli_profile_writes_a_reviewable_contract(tmp_path, small_sales):
    data = _write(small_sales, tmp_path / "raw.parquet")
    out = tmp_path / "policies" / "small.yaml"
    result = _conveyor(
        "check", "profile", str(data), "--out", str(out), "--key", "club_id,item_id,date"
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.startswith("# Data contract `small`")
    assert load_contract(out).key == ["club_id", "item_id", "date"]
    result = _conveyor("check", "profile", str(data), "--out", str(out), "--key", "shop_id")
    assert result.returncode == 2 and "shop_id" in result.stderr
