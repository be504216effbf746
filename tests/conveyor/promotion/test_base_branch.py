"""The base branch is named once, in policies/promotion.yaml: the promotion pull request targets
the branch the plan read, and no command takes another (real git, a bare remote on disk, a
recording `gh`: GitHub cannot run here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.gh_stub import GhStub
from tests.promotion_repos import IDENTITY, git, record, write_record

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"
PR_URL = "https://github.com/acme/conveyor/pull/9"
POLICY = Path("policies/promotion.yaml")


def _rename_base(work: Path, branch: str) -> None:
    """The project's base branch is ``branch`` (policy and remote), not main."""
    policy = yaml.safe_load((work / POLICY).read_text())
    policy["base_branch"] = branch
    (work / POLICY).write_text(yaml.safe_dump(policy, sort_keys=False))
    git(work, "checkout", "--quiet", "-b", branch)
    git(work, "commit", "--quiet", "-am", f"base branch {branch}")
    git(work, "push", "--quiet", "origin", branch)


def _promote(work: Path, tmp_path: Path, gh: GhStub, *args: str) -> subprocess.CompletedProcess:
    release = write_record(tmp_path / "v1.0.0.json", record("v1.0.0"))
    return subprocess.run(
        [str(CONVEYOR), "promote", "--env", "dev", "--record", str(release),
         "--no-commit-check", "--pull-request", *args],
        cwd=work, env={**gh.env(), **IDENTITY}, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_pull_request_targets_the_policys_base_branch(work, origin, tmp_path):
    _rename_base(work, "trunk")
    gh = GhStub(tmp_path / "gh", {"pr list": "", "pr create": PR_URL})
    result = _promote(work, tmp_path, gh)
    assert result.returncode == 0, result.stderr
    _auth, listing, create = gh.calls()
    assert listing[listing.index("--base") + 1] == "trunk"
    assert create[create.index("--base") + 1] == "trunk"
    # The branch proposed is built on the tip of that same branch, not on main.
    parent = git(origin, "rev-parse", "promote/dev^")
    assert parent == git(origin, "rev-parse", "trunk")


def test_no_option_names_another_base(work, origin, tmp_path):
    gh = GhStub(tmp_path / "gh", {"pr list": "", "pr create": PR_URL})
    result = _promote(work, tmp_path, gh, "--base", "release")
    assert result.returncode == 2
    assert "unrecognized arguments: --base release" in result.stderr
    assert gh.calls() == []


@pytest.mark.parametrize(
    "branch", ["--upload-pack=touch x", "-x", "a..b", "a b", "x.lock", "trunk/", "a@{1}", 7]
)
def test_a_base_branch_git_would_refuse_or_read_as_an_option_is_refused_before_any_ref_moves(
    work, origin, tmp_path, branch
):
    policy = yaml.safe_load((work / POLICY).read_text())
    policy["base_branch"] = branch
    (work / POLICY).write_text(yaml.safe_dump(policy, sort_keys=False))
    git(work, "commit", "--quiet", "-am", "a bad base branch")
    before = git(origin, "for-each-ref")
    gh = GhStub(tmp_path / "gh", {"pr list": "", "pr create": PR_URL})
    result = _promote(work, tmp_path, gh)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "policies/promotion.yaml: base_branch:" in lines[0], lines
    assert "Traceback" not in result.stderr
    assert git(origin, "for-each-ref") == before
    assert not (work / "x").exists()
