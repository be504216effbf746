"""One verdict file per contract, covering every data file it checked; and `check data`, `gate`,
`report` refuse bad input (one line, exit 2, nothing written) before any slow work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONTRACT = """\
name: tiny
columns:
  id: {type: string}
  x: {type: float, min: 0}
"""

# Runs one command in a fresh interpreter and says whether Great Expectations (seconds to
# import) was loaded: a refused --out must be found before it is.
RUNNER = (
    "import sys\n"
    "from conveyor.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('gx loaded' if 'great_expectations' in sys.modules else 'gx not loaded')\n"
    "sys.exit(code)\n"
)


def _conveyor(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def _tiny(root: Path) -> tuple[Path, Path, Path]:
    contract = root / "tiny.yaml"
    contract.write_text(CONTRACT, encoding="utf-8")
    good, bad = root / "good.csv", root / "bad.csv"
    good.write_text("id,x\na,1.0\nb,2.0\n", encoding="utf-8")
    bad.write_text("id,x\na,1.0\nb,-2.0\n", encoding="utf-8")
    return contract, good, bad


def test_a_failing_and_a_passing_file_leave_a_failed_verdict(tmp_path):
    contract, good, bad = _tiny(tmp_path)
    out = tmp_path / "reports" / "data"
    # The passing file last: it used to overwrite the failure with `passed: true`.
    run = _conveyor("check", "data", contract, bad, contract, good, "--out", out)
    assert run.returncode == 1, run.stderr
    assert sorted(p.name for p in out.glob("*.json")) == ["tiny.json"]
    verdict = json.loads((out / "tiny.json").read_text(encoding="utf-8"))
    assert verdict["passed"] is False
    assert verdict["data_files"] == [str(bad), str(good)]
    assert verdict["rules_failed"] == 1 and verdict["rows"] == 4
    failed = [r for r in verdict["rules"] if not r["passed"]]
    assert [(r["id"], r["data"]) for r in failed] == [("x.range", str(bad))]
    # Every reader of reports/data sees the failure (the release's re-check reads each verdict's
    # `passed`, conveyor.release._one_data_verdict): no file left says passed.
    assert not any(
        json.loads(p.read_text(encoding="utf-8"))["passed"] is True for p in out.glob("*.json")
    )
    markdown = (out / "tiny.md").read_text(encoding="utf-8")
    assert f"`{bad}`" in markdown and f"`{good}`" in markdown and "❌" in markdown


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def _refused(run: subprocess.CompletedProcess[str], *words: str) -> None:
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert run.stdout.splitlines() == ["gx not loaded"]


def _binary(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 4)
    return path


def test_check_data_refuses_a_wrong_out_before_the_run(tmp_path):
    contract, good, _ = _tiny(tmp_path)
    as_file = tmp_path / "out-file"
    as_file.write_text("keep", encoding="utf-8")
    verdict_is_dir = tmp_path / "out"
    (verdict_is_dir / "tiny.json").mkdir(parents=True)
    docs_is_file = tmp_path / "out2"
    docs_is_file.mkdir()
    (docs_is_file / "docs").write_text("keep", encoding="utf-8")
    for out, words in (
        (as_file, ("--out", "not a folder")),
        (verdict_is_dir, ("tiny.json", "not a file")),
        (docs_is_file, ("docs", "not a folder")),
        (as_file / "sub", ("--out",)),
    ):
        before = _snapshot(tmp_path)
        _refused(_conveyor("check", "data", contract, good, "--out", out), *words)
        assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(bytes(range(256)) * 4, id="binary"),
        pytest.param("name: caf\u00e9\n".encode("latin-1"), id="non-utf8"),
        pytest.param(b"name: tiny\x00\x01\x02\n", id="control-bytes"),
        pytest.param(b"- a list\n- not a mapping\n", id="wrong-shape"),
    ],
)
def test_check_data_refuses_a_broken_contract(tmp_path, content):
    _, good, _ = _tiny(tmp_path)
    contract = tmp_path / "broken.yaml"
    contract.write_bytes(content)
    before = _snapshot(tmp_path)
    _refused(_conveyor("check", "data", contract, good, "--out", tmp_path / "out"), str(contract))
    assert _snapshot(tmp_path) == before


def _gate_project(root: Path) -> Path:
    (root / "m.json").write_text('{"a": 0.5}', encoding="utf-8")
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"gates": {"rules": [{"metric": "m.json:a", "max": 1}]}}))
    return params


def test_gate_refuses_bad_params_and_a_wrong_out(tmp_path):
    params = _gate_project(tmp_path)
    binary = _binary(tmp_path / "binary.yaml")
    as_file = tmp_path / "out-file"
    as_file.write_text("keep", encoding="utf-8")
    json_is_dir = tmp_path / "gate-out"
    (json_is_dir / "gate.json").mkdir(parents=True)
    cases = [
        (("--params", binary), (str(binary), "binary")),
        (("--params", tmp_path), (str(tmp_path),)),
        (("--params", params, "--out", as_file), ("--out",)),
        (("--params", params, "--out", json_is_dir), ("gate.json", "expected a file")),
    ]
    for args, words in cases:
        before = _snapshot(tmp_path)
        _refused(_conveyor("gate", *args, "--root", tmp_path, cwd=tmp_path), *words)
        assert _snapshot(tmp_path) == before


def _gate_verdict(root: Path) -> Path:
    """A gate.json as `conveyor gate` writes it: one passing check."""
    check = {"metric": "m.json:a", "baseline": None, "current": 0.5, "delta": None}
    check |= {"limit": "<= 1", "verdict": "pass", "reason": "within bounds"}
    verdict = {"passed": True, "baseline_ref": "HEAD", "baseline_commit": "none"}
    verdict |= {"checks_total": 1, "checks_failed": 0, "checks_without_baseline": 0}
    path = root / "gate.json"
    path.write_text(json.dumps(verdict | {"checks": [check]}), encoding="utf-8")
    return path


def test_report_refuses_a_wrong_out_or_plots_dir(tmp_path):
    gate = _gate_verdict(tmp_path)
    as_file = tmp_path / "plots-file"
    as_file.write_text("keep", encoding="utf-8")
    cases = [
        (("--out", tmp_path / "a-dir"), ("--out", "expected a file")),
        (("--out", as_file / "report.md"), ("--out",)),
        (("--out", tmp_path / "r.md", "--plots-dir", as_file), ("--plots-dir",)),
        (("--out", tmp_path / "r.md", "--gate", _binary(tmp_path / "b.json")), ("binary",)),
        (("--out", tmp_path / "r.md", "--gate", tmp_path / "none.json"), ("conveyor gate",)),
        (("--out", tmp_path / "r.md", "--data-reports", as_file), ("--data-reports",)),
        (("--out", tmp_path / "r.md", "--data-reports", tmp_path / "a-dir"), ("x.md", "UTF-8")),
    ]
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-dir" / "x.md").write_bytes("caf\u00e9".encode("latin-1"))
    for args, words in cases:
        before = _snapshot(tmp_path)
        run = _conveyor("report", "--gate", gate, *args, "--root", tmp_path, cwd=tmp_path)
        _refused(run, *words)
        assert _snapshot(tmp_path) == before


def test_check_profile_refuses_a_wrong_out_and_empty_data(tmp_path):
    _, good, _ = _tiny(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,x\n", encoding="utf-8")
    (tmp_path / "a-dir.yaml").mkdir()
    for args, words in (
        ((good, "--out", tmp_path / "a-dir.yaml"), ("--out", "expected a file")),
        ((empty, "--out", tmp_path / "c.yaml"), ("empty",)),
    ):
        before = _snapshot(tmp_path)
        _refused(_conveyor("check", "profile", *args), *words)
        assert _snapshot(tmp_path) == before
