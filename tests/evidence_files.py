"""The tests and scan verdict files a release job makes, as `release record` takes them: untracked,
naming the commit they were made on (pytest -p conveyor.junit_commit; conveyor scan)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conveyor.evidence import COMMIT_PROPERTY, SCAN_COMMIT


def head(repo: Path) -> str:
    """The commit ``repo`` has checked out."""
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def junit_report(
    path: Path, commit: str | None, *, tests: int = 12, failures: int = 0, errors: int = 0
) -> Path:
    """A JUnit report as pytest writes it with conveyor.junit_commit (``commit`` None: without
    the property, as a plain `pytest --junitxml` writes it)."""
    prop = (
        ""
        if commit is None
        else f'<properties><property name="{COMMIT_PROPERTY}" value="{commit}"/></properties>'
    )
    path.write_text(
        f'<testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}" '
        f'errors="{errors}">{prop}</testsuite></testsuites>',
        encoding="utf-8",
    )
    return path


def scan_report(path: Path, commit: str | None, *, passed: bool = True) -> Path:
    """A scan.json as `conveyor scan` writes it on ``commit`` (None: outside git)."""
    data = {"passed": passed, "findings": [], SCAN_COMMIT: commit}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
