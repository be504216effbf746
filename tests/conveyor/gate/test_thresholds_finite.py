"""Every threshold read from a file is a finite number written as a number: gate bounds and
tolerances, contract bounds (rows are whole counts), monitoring thresholds, the promotion
policy's soak time. `.nan` made a gate pass everything (every comparison with nan is false),
`.inf` is no bound, `true` and "0.5" were silently read as 1.0 and 0.5."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conveyor.checks.contract import load_contract
from conveyor.config import load_model
from conveyor.errors import ConfigError
from conveyor.monitor.config import load_monitoring
from conveyor.promotion.policy import PromotionPolicy

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

# As YAML text, so each reaches the loader exactly as a hand-written file would.
BAD_NUMBERS = [".nan", ".inf", "-.inf", "true", '"0.5"', "1e400", "[1]"]


def _conveyor(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def _refused(run: subprocess.CompletedProcess[str], key: str) -> None:
    """Exit 2 with one line naming the key, no traceback."""
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert key in lines[0] and "Traceback" not in run.stderr, run.stderr


def _gate_repo(root: Path, rule: str) -> None:
    """A git repo whose metrics hold wape 0.9 and whose one gate rule is ``rule``."""
    (root / "metrics").mkdir()
    (root / "metrics/m.json").write_text('{"wape": 0.9}', encoding="utf-8")
    (root / "params.yaml").write_text(
        f"gates:\n  rules:\n    - {{metric: 'metrics/m.json:wape', {rule}}}\n", encoding="utf-8"
    )
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*ident, "commit", "-qm", "b"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
@pytest.mark.parametrize("field", ["min", "max"])
def test_gate_refuses_a_bound_that_is_no_finite_number(
    tmp_path: Path, field: str, bad: str
) -> None:
    """`max: .nan` used to pass wape 0.9 (exit 0); now the params are refused, nothing written."""
    _gate_repo(tmp_path, f"{field}: {bad}")
    run = _conveyor("gate", "--out", "out", cwd=tmp_path)
    _refused(run, f"gates.rules.0.{field}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", BAD_NUMBERS)
@pytest.mark.parametrize("field", ["atol", "rtol"])
def test_gate_refuses_a_tolerance_that_is_no_finite_number(
    tmp_path: Path, field: str, bad: str
) -> None:
    _gate_repo(tmp_path, f"better: lower, max_regression: {{{field}: {bad}}}")
    _refused(_conveyor("gate", "--out", "out", cwd=tmp_path), f"max_regression.{field}")
    assert not (tmp_path / "out").exists()


def test_gate_still_takes_integers_and_floats(tmp_path: Path) -> None:
    """The strictness refuses only non-numbers: `max: 1` is a number, and 0.9 <= 1 passes."""
    _gate_repo(tmp_path, "min: 0, max: 1")
    run = _conveyor("gate", "--out", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "out/gate.json").is_file()


# Contract fragments (under `name: t`) and the key the refusal must name.
BAD_CONTRACTS = [
    ("rows: {min: .nan}\ncolumns: {a: {type: integer}}", "rows.min"),
    ("rows: {min: 1.5, max: 10}\ncolumns: {a: {type: integer}}", "rows.min"),
    ("rows: {min: 1, max: 1e400}\ncolumns: {a: {type: integer}}", "rows.max"),
    ("rows: {min: 1, max: .inf}\ncolumns: {a: {type: integer}}", "rows.max"),
    ("rows: {min: true}\ncolumns: {a: {type: integer}}", "rows.min"),
    ("columns: {a: {type: integer, min: .inf}}", "columns.a.min"),
    ("columns: {a: {type: integer, max: .nan}}", "columns.a.max"),
    ("columns: {a: {type: integer, max: true}}", "columns.a.max"),
    ("columns: {a: {type: integer, max: '0.5'}}", "columns.a.max"),
    ("columns: {a: {type: integer, distribution: {mean: {min: .nan}}}}", "mean.min"),
    ("columns: {a: {type: integer, distribution: {mean: {max: -.inf}}}}", "mean.max"),
    ("columns: {a: {type: integer, distribution: {max_zero_share: .nan}}}", "max_zero_share"),
    ("columns: {a: {type: integer, distribution: {quantiles: {.nan: {min: 1}}}}}", "quantiles"),
    ("columns: {a: {type: integer, distribution: {quantiles: {0.5: {max: .inf}}}}}", "quantiles"),
    ("columns: {a: {type: date}}\nfreshness: {column: a, max_age_days: true}", "max_age_days"),
    ("columns: {a: {type: date}}\nfreshness: {column: a, max_age_days: '3000'}", "max_age_days"),
    ("columns: {a: {type: date}}\nfreshness: {column: a, max_age_days: 1.5}", "max_age_days"),
]


@pytest.mark.parametrize(("body", "key"), BAD_CONTRACTS)
def test_check_data_refuses_a_contract_with_a_bad_number(
    tmp_path: Path, body: str, key: str
) -> None:
    """One line, exit 2, before GX starts: no verdict, no docs, no --out folder."""
    contract = tmp_path / "t.yaml"
    contract.write_text(f"name: t\n{body}\n", encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n", encoding="utf-8")
    run = _conveyor("check", "data", contract, data, "--out", tmp_path / "out", cwd=tmp_path)
    _refused(run, key)
    assert not (tmp_path / "out").exists()


def test_contract_bounds_still_take_numbers_and_dates(tmp_path: Path) -> None:
    contract = tmp_path / "t.yaml"
    contract.write_text(
        "name: t\nrows: {min: 1, max: 10}\ncolumns:\n  a: {type: integer, min: 0, max: 2.5}\n"
        "  d: {type: date, min: 2024-01-01, max: '2024-12-31'}\n",
        encoding="utf-8",
    )
    loaded = load_contract(contract)
    assert (loaded.rows.min, loaded.rows.max) == (1, 10)
    assert (loaded.columns["a"].min, loaded.columns["a"].max) == (0.0, 2.5)
    assert str(loaded.columns["d"].max) == "2024-12-31"


@pytest.mark.parametrize("bad", BAD_NUMBERS)
@pytest.mark.parametrize("field", ["psi", "ks", "unseen_share", "metric_ratio"])
def test_monitoring_refuses_a_threshold_that_is_no_finite_number(
    tmp_path: Path, field: str, bad: str
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        f"monitoring:\n  features: {{x: numeric}}\n  thresholds: {{{field}: {bad}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=rf"monitoring\.thresholds\.{field}"):
        load_monitoring(params)


@pytest.mark.parametrize("bad", ["true", "'10'", "2.5", ".nan"])
@pytest.mark.parametrize("field", ["min_rows", "sample_rows", "bins", "seed"])
def test_monitoring_refuses_a_count_that_is_no_whole_number(
    tmp_path: Path, field: str, bad: str
) -> None:
    """Counts are written as whole numbers: `true` is not 1 and "10" is not 10."""
    params = tmp_path / "params.yaml"
    params.write_text(
        f"monitoring:\n  features: {{x: numeric}}\n  {field}: {bad}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=rf"monitoring\.{field}"):
        load_monitoring(params)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_promotion_policy_refuses_a_soak_time_that_is_no_finite_number(
    tmp_path: Path, bad: str
) -> None:
    """`soak_hours: .nan` would make every soak check false: never or always promotable."""
    policy = tmp_path / "promotion.yaml"
    policy.write_text(
        yaml.safe_dump({"image_name": "acme/f", "registries": ["ghcr.io"]})
        + f"environments:\n  dev: {{}}\n  prod: {{requires: dev, soak_hours: {bad}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"environments\.prod\.soak_hours"):
        load_model(policy, PromotionPolicy)
