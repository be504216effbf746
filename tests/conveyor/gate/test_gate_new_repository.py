"""`conveyor gate` in a repository with no commit yet: the README's "no baseline" case passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

RULES = [
    {
        "metric": "metrics/metrics.json:model.wape",
        "better": "lower",
        "max": 0.5,
        "max_regression": {"atol": 0.005},
    }
]


def _new_repository(root: Path, wape: float) -> Path:
    """`git init` and the files a first pull request would add, nothing committed."""
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    (root / "metrics").mkdir()
    (root / "metrics/metrics.json").write_text(json.dumps({"model": {"wape": wape}}))
    (root / "params.yaml").write_text(yaml.safe_dump({"gates": {"rules": RULES}}))
    return root


def _gate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "conveyor"), "gate", "--out", "out", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_repository_without_commits_is_gated_with_no_baseline(tmp_path: Path) -> None:
    root = _new_repository(tmp_path, wape=0.4)
    result = _gate(root)
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = json.loads((root / "out/gate.json").read_text())
    assert verdict["passed"] is True
    assert [c["verdict"] for c in verdict["checks"]] == ["no baseline"], verdict["checks"]
    assert verdict["baseline_commit"] == "none"


def test_the_absolute_bounds_still_apply_before_the_first_commit(tmp_path: Path) -> None:
    root = _new_repository(tmp_path, wape=0.9)  # above max: 0.5
    result = _gate(root)
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = json.loads((root / "out/gate.json").read_text())
    assert [c["verdict"] for c in verdict["checks"]] == ["fail"], verdict["checks"]


def test_a_missing_named_ref_is_still_a_usage_error(tmp_path: Path) -> None:
    root = _new_repository(tmp_path, wape=0.4)
    result = _gate(root, "--baseline-ref", "origin/main")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "baseline ref 'origin/main' does not exist" in result.stderr
    assert not (root / "out").exists()
