"""Contract rules that cannot apply to their column's type are contract errors (issue 14).

A date-and-time bound on a date column used to crash with a TypeError traceback; `allowed:
[2024-01-05]` on a date column was refused with pydantic's union message, and quoted ISO text
there loaded and then matched no row (text never equals a date); a distribution on a text,
date or boolean column, a `regex` on a number column, an invalid regex and a `freshness.column`
that is not a date loaded and then failed (or crashed) in the backend. Each is now refused
where the contract is loaded: exit 2, one line naming the contract line and the column, before
any data is read. Real `conveyor check data` (Great Expectations) below.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conveyor.checks.contract import load_contract
from conveyor.errors import ConfigError
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

BAD = [
    ("d: {type: date, min: 2024-01-01T10:00:00, max: 2024-02-01}",
     ":3: columns.d.min: expected a finite number or a date (YYYY-MM-DD), not a date and time"),
    ("d: {type: date, min: 2024-01-01, max: 2024-02-01 10:00:00}",
     ":3: columns.d.max: expected a finite number or a date (YYYY-MM-DD), not a date and time"),
    ("d: {type: date, allowed: [yesterday]}",
     ":3: columns.d: allowed value 'yesterday' is not a date (YYYY-MM-DD), but the column is date"),
    ("d: {type: date, allowed: ['2024-13-45']}",
     ":3: columns.d: allowed value '2024-13-45' is not a date"),
    ("d: {type: date, allowed: [2024-01-05T10:00:00]}",
     ":3: columns.d.allowed.0: expected text, a number, true/false or a date, not a date and time"),
    ("i: {type: integer, allowed: [2024-01-05]}",
     ":3: columns.i: allowed value datetime.date(2024, 1, 5) is a date, but the column is integer"),
    ("s: {type: string, distribution: {mean: {min: 0, max: 1}}}",
     ":3: columns.s: distribution (mean): a string column has no mean, quantiles or zeros"),
    ("d: {type: date, distribution: {max_zero_share: 0.1}}",
     ":3: columns.d: distribution (max_zero_share): a date column has no mean"),
    ("b: {type: boolean, distribution: {quantiles: {0.5: {min: 0, max: 1}}}}",
     ":3: columns.b: distribution (quantiles): a boolean column has no mean"),
    ("i: {type: integer, regex: '^[0-9]+$'}",
     ":3: columns.i: regex: an integer column has no text to match"),
    ("s: {type: string, regex: '(['}",
     ":3: columns.s: regex '([' is not a valid pattern (unterminated character set"),
    ("d: {type: date, distinct: {}}", ":3: columns.d.distinct: give min, max or both"),
    ("d: {type: date, distinct: {min: 28, max: 7}}",
     ":3: columns.d.distinct: min (28) is greater than max (7)"),
    ("d: {type: date, distinct: {min: 2.5}}", ":3: columns.d.distinct.min: "),
    ("d: {type: date, distinct: {max: -1}}", ":3: columns.d.distinct.max: "),
    ("d: {type: date, distinct: 28}", ":3: columns.d.distinct: "),
]  # fmt: skip


def _contract(tmp_path: Path, column: str, extra: str = "") -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(f"name: types\ncolumns:\n  {column}\n{extra}")
    return path


@pytest.mark.parametrize(("column", "message"), BAD)
def test_a_rule_the_column_type_cannot_take_is_a_contract_error(
    tmp_path: Path, column: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_contract(_contract(tmp_path, column))
    assert f"contract.yaml{message}" in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


@pytest.mark.parametrize("kind", ["integer", "string", "boolean"])
def test_freshness_needs_a_date_column(tmp_path: Path, kind: str) -> None:
    path = _contract(tmp_path, f"a: {{type: {kind}}}", "freshness: {column: a, max_age_days: 3}\n")
    with pytest.raises(ConfigError, match=f"freshness.column 'a' is an? {kind} column: freshness"):
        load_contract(path)


@pytest.mark.parametrize(
    "column",
    [
        "d: {type: date, allowed: [2024-01-05, '2024-01-06']}",
        "d: {type: date, min: 2024-01-01, max: 2024-02-01}",
        "i: {type: integer, regex: null, distribution: {mean: {min: 0, max: 1}}}",
        "f: {type: float, distribution: {max_zero_share: 0.1}}",
        "s: {type: string, regex: '^x[0-9]+$'}",
        "s: {type: string, distinct: {min: 1}}",
        "d: {type: date, distinct: {min: 28, max: 28}}",
    ],
)
def test_rules_that_fit_the_column_load(tmp_path: Path, column: str) -> None:
    load_contract(_contract(tmp_path, column))


def test_every_shipped_contract_still_loads() -> None:
    contracts = sorted((REPO / "policies" / "data").glob("*.yaml"))
    assert contracts
    for path in contracts:
        load_contract(path)


RUN = [sys.executable, "-m", "conveyor.cli", "check", "data"]


def _check(contract: Path, data: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUN, str(contract), str(data), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_check_data_compares_allowed_dates_as_days(tmp_path: Path) -> None:
    """A YAML date and quoted ISO text in `allowed` both match the day in real data (GX); a
    day not listed still fails the rule (exit 1)."""
    data = tmp_path / "data.parquet"
    pl.DataFrame({"d": [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]}).write_parquet(data)
    both = tmp_path / "both.yaml"
    both.write_text(
        "name: both\ncolumns:\n  d: {type: date, allowed: [2024-01-05, '2024-01-06']}\n"
    )
    result = _check(both, data, tmp_path / "out-both")
    assert result.returncode == 0, result.stdout + result.stderr
    one = tmp_path / "one.yaml"
    one.write_text("name: one\ncolumns:\n  d: {type: date, allowed: ['2024-01-05']}\n")
    result = _check(one, data, tmp_path / "out-one")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "d.allowed" in result.stdout and "d=2024-01-06" in result.stdout
    verdicts = [json.loads(p.read_text()) for p in (tmp_path / "out-one").glob("*.json")]
    assert verdicts, "a failed check still writes its verdict"


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("  d: {type: date, min: 2024-01-01T10:00:00, max: 2024-02-01}\n  s: {type: string}\n",
         ":3: columns.d.min: expected a finite number or a date (YYYY-MM-DD), not a date and time"),
        ("  d: {type: date}\n  s: {type: string, regex: '(['}\n",
         ":4: columns.s: regex '([' is not a valid pattern"),
        ("  d: {type: date, distribution: {mean: {min: 0, max: 1}}}\n  s: {type: string}\n",
         ":3: columns.d: distribution (mean): a date column has no mean"),
    ],
)  # fmt: skip
def test_check_data_refuses_them_with_exit_2_before_reading_the_data(
    tmp_path: Path, columns: str, message: str
) -> None:
    data = tmp_path / "data.parquet"
    pl.DataFrame({"d": [dt.date(2024, 1, 5)], "s": ["x"]}).write_parquet(data)
    contract = tmp_path / "c.yaml"
    contract.write_text(f"name: c\ncolumns:\n{columns}")
    out = tmp_path / "out"
    result = _check(contract, data, out)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{contract}{message}" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
