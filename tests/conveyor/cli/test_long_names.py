"""A path with a name component over 255 bytes (ENAMETOOLONG) is a usage error everywhere.

pathlib's ``exists()``/``is_dir()`` swallow "no such file" but raise every other OSError, so
such a path used to end in a traceback and exit 1 (which CI reads as "a check failed"). Each
command is run through the installed entry point: exit 2, one line, no traceback, nothing
written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conveyor.cli.test_usage_before_work import RELEASE_NAME
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

TOOL_CACHES = {".grimp_cache", ".hypothesis", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
CONVEYOR = Path(sys.executable).parent / "conveyor"
# Built at run time: a digest-shaped string is never committed as a literal.
IMAGE = "ghcr.io/a/b@sha256:" + "ab" * 32
RECORD = ["release", "record", "--version", "v1.0.0", "--image", IMAGE]

# (argv with {long} for the path, environment variable set to the path or None)
COMMANDS = {
    "release record --out": ([*RECORD, "--out", "{long}"], None),
    "release record --data-dir": ([*RECORD, "--data-dir", "{long}"], None),
    "gate --out": (["gate", "--out", "{long}"], None),
    "check data --out": (["check", "data", "--out", "{long}"], None),
    "scan --out": (["scan", "--out", "{long}"], None),
    "doctor --root": (["doctor", "--root", "{long}"], None),
    "GITHUB_OUTPUT": (
        [*RELEASE_NAME, "--github-output"],
        "GITHUB_OUTPUT",
    ),
    "GITHUB_STEP_SUMMARY": (["doctor"], "GITHUB_STEP_SUMMARY"),
}


@pytest.mark.parametrize("where", ["last", "middle"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_name_over_255_bytes_is_a_usage_error(name: str, where: str, tmp_path: Path) -> None:
    long_name = "b" * 300
    long = tmp_path / long_name if where == "last" else tmp_path / long_name / "out"
    argv, variable = COMMANDS[name]
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "BENTOML_DO_NOT_TRACK": "true",
        "GX_ANALYTICS_ENABLED": "False",
    }
    env.pop("GITHUB_OUTPUT", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    if variable:
        env[variable] = str(long)
    before = sorted(p.name for p in REPO.iterdir())  # what conveyor wrote would be new here
    proc = subprocess.run(
        [str(CONVEYOR), *(arg.replace("{long}", str(long)) for arg in argv)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "File name too long" in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []
    # Tests in other processes may leave their tools' caches at the top (lint-imports' grimp).
    after = {p.name for p in REPO.iterdir()} - TOOL_CACHES
    assert after <= set(before), sorted(after - set(before))
