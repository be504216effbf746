"""A bound or an allowed value a column's type can never hold is a contract error (issue 14):
`min: 2024-01-01` on an integer column used to load and then fail every row in Great
Expectations as bad data (exit 1), and `allowed: [.nan]` loaded as a set nothing can match.
Now each is refused where the contract is loaded: exit 2, one line naming the contract file,
the column and the bound, before any data is read. Real `conveyor check data` (GX) below."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.checks.contract import load_contract
from conveyor.errors import ConfigError

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

BAD = [
    ("a: {type: integer, min: 2024-01-01}", "columns.a: min 2024-01-01 is a date, but the column "
     "is integer: its bounds must be a number"),
    ("a: {type: float, max: '2024-01-01'}", "columns.a: max 2024-01-01 is a date, but the column "
     "is float"),
    ("a: {type: date, min: 5}", "columns.a: min 5.0 is a number, but the column is date: its "
     "bounds must be a date"),
    ("a: {type: string, max: 3}", "columns.a: max 3.0: a string column has no min/max"),
    ("a: {type: boolean, min: 0}", "columns.a: min 0.0: a boolean column has no min/max"),
    ("a: {type: integer, min: 10, max: 1}", "columns.a: min (10.0) is greater than max (1.0)"),
    ("a: {type: date, min: 2024-02-01, max: 2024-01-01}", "columns.a: min (2024-02-01) is "
     "greater than max"),
    ("a: {type: float, allowed: [1.5, .nan]}", "columns.a: allowed: nan is not a finite number"),
    ("a: {type: float, allowed: [.inf]}", "columns.a: allowed: inf is not a finite number"),
    ("a: {type: float, allowed: [-.Inf]}", "columns.a: allowed: -inf is not a finite number"),
    ("a: {type: string, allowed: [x, 1]}", "columns.a: allowed value 1 is a number, but the "
     "column is string (quote it to make it text)"),
    ("a: {type: integer, allowed: [1, 2.5]}", "columns.a: allowed value 2.5 is a number, but the "
     "column is integer"),
    ("a: {type: integer, allowed: [0, true]}", "columns.a: allowed value True is true/false, but "
     "the column is integer"),
    ("a: {type: boolean, allowed: [1]}", "columns.a: allowed value 1 is a number, but the column "
     "is boolean"),
]  # fmt: skip


def _contract(tmp_path: Path, column: str) -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(f"name: bounds\ncolumns:\n  {column}\n")
    return path


@pytest.mark.parametrize(("column", "message"), BAD)
def test_a_bound_the_column_cannot_hold_is_a_contract_error(tmp_path, column, message):
    with pytest.raises(ConfigError) as raised:
        load_contract(_contract(tmp_path, column))
    assert f"contract.yaml:3: {message}" in str(raised.value)


@pytest.mark.parametrize(
    "column",
    [
        "a: {type: integer, min: 0, max: 5000}",
        "a: {type: float, min: 0.01, max: 2}",
        "a: {type: date, min: 2024-01-01, max: '2025-12-31'}",
        "a: {type: integer, allowed: [0, 1]}",
        "a: {type: float, allowed: [0, 0.5]}",
        "a: {type: string, allowed: [x, '1']}",
        "a: {type: boolean, allowed: [true]}",
    ],
)
def test_bounds_that_fit_the_column_load(tmp_path, column):
    load_contract(_contract(tmp_path, column))


def test_check_data_refuses_it_with_exit_2_before_reading_the_data(tmp_path):
    """Through the CLI with real data: a date bound on an integer column used to exit 1 with
    every row failing; now exit 2, one line, no verdict written."""
    import polars as pl

    data = tmp_path / "data.parquet"
    pl.DataFrame({"qty": [1, 2, 3]}).write_parquet(data)
    out = tmp_path / "out"
    good = tmp_path / "good.yaml"
    good.write_text("name: qty\ncolumns:\n  qty: {type: integer, min: 0}\n")
    run = [sys.executable, "-m", "conveyor.cli", "check", "data"]
    result = subprocess.run(
        [*run, str(good), str(data), "--out", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr  # the same data, a sound bound
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: qty\ncolumns:\n  qty: {type: integer, min: 2024-01-01}\n")
    out = tmp_path / "out-bad"
    result = subprocess.run(
        [*run, str(bad), str(data), "--out", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}:3: columns.qty: min 2024-01-01 is a date, but the column is integer: its "
        "bounds must be a number"
    ]
    assert "Traceback" not in result.stderr
    assert not out.exists()
