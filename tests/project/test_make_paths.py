"""`make` works wherever the repository is checked out: under a dot-directory, at a path with
spaces, of more than 200 characters. Make splits targets and prerequisites on spaces, so one
absolute path in a rule is enough to break `make setup` there (issue 14, item 14)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conveyor.test_doctor_paths import _awkward_clone
from tests.promotion_repos import git

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration


def _make(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Nothing of this session's environment decides which uv or venv the clone's make uses.
    # MAKELEVEL/MAKEFLAGS: run as a user would from a shell, not as a sub-make of `make test`
    # (whose messages say `make[1]:`).
    outer = ("UV", "VIRTUAL_ENV", "PYTEST_ARGS", "MAKELEVEL", "MAKEFLAGS", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if k not in outer}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=1200,
    )


@pytest.mark.pipeline
def test_make_setup_and_test_fast_from_a_long_hidden_spaced_path(tmp_path: Path) -> None:
    clone = _awkward_clone(tmp_path)
    assert " " in str(clone) and "/." in str(clone) and len(str(clone)) > 200
    result = _make(clone, "setup")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # Everything landed in the clone, nothing beside it (a split path makes folders elsewhere).
    assert (clone / ".venv" / ".synced").is_file()
    assert os.access(clone / ".tools" / "checkov" / "bin" / "checkov", os.X_OK)
    assert os.access(clone / ".tools" / "bin" / "uv", os.X_OK)
    assert [p.name for p in tmp_path.iterdir()] == [".cache dir"]
    assert _make(clone, "setup").stdout.strip() == "make: Nothing to be done for 'setup'."

    # The clone's own tools, through their launchers (whose #! line holds the awkward path).
    result = _make(
        clone,
        "test-fast",
        "PYTEST_ARGS=tests/conveyor/checks/test_checks_pii_member_ids.py",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert " passed" in result.stdout  # exit 0 with tests run (5 would be: none selected)
    assert "make test-fast" in _make(clone, "help").stdout
    assert git(clone, "status", "--porcelain") == ""
