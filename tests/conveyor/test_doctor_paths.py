"""The project works wherever it is checked out: under a dot-directory, in a path with spaces,
and at a path of more than 200 characters (where `dvc remote list` wraps its table)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.promotion_repos import IDENTITY, REPO, git

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"


def _awkward_clone(tmp_path: Path) -> Path:
    """A clone of this repository (its committed state) at a long path with a dot-directory and
    spaces in it."""
    where = tmp_path / ".cache dir" / "my projects"
    for i in range(4):
        where = where / (f"a-rather-long-folder-name-number-{i}-" + "x" * 20)
    where = where / "conveyor clone"
    where.parent.mkdir(parents=True)
    assert len(str(where)) > 200
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(where)],
        check=True,
        capture_output=True,
    )
    return where


def _conveyor(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **IDENTITY, "DVC_NO_ANALYTICS": "1", "BENTOML_HOME": str(cwd / ".b")}
    return subprocess.run(
        [str(CONVEYOR), *args], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


def test_doctor_and_the_gate_work_from_a_long_hidden_spaced_path(tmp_path):
    clone = _awkward_clone(tmp_path)
    for args in (("doctor",), ("doctor", "--root", str(clone))):
        result = _conveyor(clone if len(args) == 1 else tmp_path, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        lines = {line[3:].split("  ")[0].strip(): line for line in result.stdout.splitlines()}
        # The whole remote on one line: name, the resolved URL (the clone's .dvc-remote), default.
        assert lines["dvc remote"].endswith(f"local {clone / '.dvc-remote'} (default)"), lines
        assert lines["dvc cache"].endswith(str(clone / ".dvc" / "cache"))
    # The gate reads metrics in the working tree and at a git ref of the clone.
    result = _conveyor(clone, "gate", "--out", str(tmp_path / "gate out"))
    assert result.returncode in (0, 1), result.stderr
    assert (tmp_path / "gate out" / "gate.json").is_file()
    assert git(clone, "status", "--porcelain") == ""


def test_doctor_hides_credentials_in_a_remote_url(tmp_path):
    clone = _awkward_clone(tmp_path)
    secret = "s" + "3cr3t"  # built at run time: no secret-shaped string in the repository
    url = f"https://someone:{secret}@dvc.example.invalid/store"
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "add", "--local", "shared", url],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    assert result.returncode == 0, result.stderr
    result = _conveyor(clone, "doctor")
    assert "shared https://dvc.example.invalid/store" in result.stdout
    assert secret not in result.stdout


def test_doctor_on_a_missing_root_is_a_usage_error(tmp_path):
    result = _conveyor(tmp_path, "doctor", "--root", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --root {tmp_path / 'nowhere'}: no such folder"
    ]
