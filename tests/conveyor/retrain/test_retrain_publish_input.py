"""`conveyor retrain publish` refuses, before anything moves, what would make its outcome wrong."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conveyor.gate import GateResult
from conveyor.report import gate_table
from tests.paths import REPO

CONVEYOR = str(Path(sys.executable).parent / "conveyor")


def _publish(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [CONVEYOR, "retrain", "publish", "--report", str(cwd / "report.md"), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def test_a_verdict_against_a_git_ref_is_not_a_champion_verdict(tmp_path):
    (tmp_path / "report.md").write_text("# report\n")
    gate_table.write(GateResult("origin/main", "a" * 40, []), tmp_path / "gate")
    result = _publish(
        tmp_path, "--gate", str(tmp_path / "gate/gate.json"), "--branch", "retrain/2026-01-05"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not against the champion" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_branch_outside_retrain_is_refused(tmp_path):
    (tmp_path / "report.md").write_text("# report\n")
    gate_table.write(GateResult("no champion in prod", "none", []), tmp_path / "gate")
    for branch, said in (("main", "starts with retrain/"), ("promote/prod", "retrain/")):
        result = _publish(tmp_path, "--gate", str(tmp_path / "gate/gate.json"), "--branch", branch)
        assert result.returncode == 2, result.stdout + result.stderr
        assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_gate_verdict_named_is_a_usage_error(tmp_path):
    # The pipeline's reports/gate/gate.json is against HEAD, never the champion: no default.
    (tmp_path / "report.md").write_text("# report\n")
    result = _publish(tmp_path, "--branch", "retrain/2026-01-05")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--gate" in result.stderr and "Traceback" not in result.stderr


def test_a_window_key_the_pipeline_never_wrote_is_named(tmp_path):
    (tmp_path / "report.md").write_text("# report\n")
    (tmp_path / "metrics.json").write_text('{"holdout": {"end": "2026-01-04"}}')
    gate_table.write(GateResult("no champion in prod", "none", []), tmp_path / "gate")
    (tmp_path / "policies").mkdir()
    shutil.copy(REPO / "policies/promotion.yaml", tmp_path / "policies/promotion.yaml")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=tmp_path, check=True, capture_output=True,
        )  # fmt: skip
    result = _publish(
        tmp_path,
        *("--gate", str(tmp_path / "gate/gate.json"), "--branch", "retrain/2026-01-05"),
        *("--window", "metrics.json:holdout.stop"),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "metrics.json holds no value at 'holdout.stop'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
