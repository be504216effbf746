"""The environments are listed once, in policies/promotion.yaml: the promote workflow takes the
name as free text, and `conveyor promote` / `rollback` refuse a name the policy does not have
(exit 2, one line listing the policy's environments) before a record is looked up or a ref moves.
Real git: a bare remote on disk and a clone of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.paths import REPO
from tests.promotion_repos import IDENTITY, git

CONVEYOR = Path(sys.executable).parent / "conveyor"


def test_the_promote_workflows_list_no_environment_of_their_own() -> None:
    for caller in (
        REPO / ".github/workflows/promote.yml",
        REPO / "examples/caller/.github/workflows/promote.yml",
    ):
        spec = yaml.safe_load(caller.read_text())[True]["workflow_dispatch"]["inputs"]
        assert spec["environment"].get("type", "string") == "string", caller  # GitHub: string
        assert "options" not in spec["environment"], caller


@pytest.mark.parametrize(
    "args",
    [
        ["promote", "--env", "qa", "--version", "v9.9.9"],
        ["promote", "--env", "Prod", "--from-environment", "dev", "--pull-request"],
        ["rollback", "--env", "qa", "--pull-request"],
    ],
)
def test_an_environment_outside_the_policy_is_a_usage_error(work: Path, args: list[str]) -> None:
    refs_before = git(work, "for-each-ref")
    remote_before = git(work, "ls-remote", "origin")
    result = subprocess.run(
        [str(CONVEYOR), *args, "--repo", str(work)],
        capture_output=True,
        text=True,
        check=False,
        env={**IDENTITY, "PATH": "/usr/bin:/bin", "HOME": str(work)},
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: unknown environment {args[2]!r} (policies/promotion.yaml has: dev, staging, prod)"
    ]
    assert "Traceback" not in result.stderr
    assert git(work, "for-each-ref") == refs_before
    assert git(work, "ls-remote", "origin") == remote_before
    assert git(work, "status", "--porcelain") == ""
