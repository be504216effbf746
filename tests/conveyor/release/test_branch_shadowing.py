"""The branch a release is checked against cannot be talked past (review findings A and B): a
pushed tag that shares the branch's short name is refused, never silently preferred (git
rev-parse tries refs/tags first), and the policy at that branch must name it as its base."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.promotion_repos import git

CONVEYOR = Path(sys.executable).parent / "conveyor"
POLICY = Path("policies/promotion.yaml")


def _on_branch(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONVEYOR), "release", "on-branch", *args],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip


def _side_commit(work: Path) -> str:
    """An unreviewed commit on a side branch (never merged into main)."""
    git(work, "checkout", "--quiet", "-b", "side")
    (work / "loosened.txt").write_text("gates loosened\n")
    git(work, "add", "loosened.txt")
    git(work, "commit", "--quiet", "-m", "unreviewed")
    return git(work, "rev-parse", "HEAD")


def test_a_tag_named_like_the_branch_is_refused_not_followed(work, origin):
    side = _side_commit(work)
    # Whoever may push a tag pushes one named origin/main onto the side commit; a release
    # checkout fetches every tag.
    git(work, "push", "--quiet", "origin", f"{side}:refs/tags/origin/main")
    git(work, "fetch", "--quiet", "--tags", "origin")
    before = git(work, "for-each-ref")
    for args in ((), ("--branch", "origin/main"), ("--branch", "origin/main~0")):
        result = _on_branch(work, "--commit", side, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert "ambiguous" in line and "refs/tags/origin/main" in line, line
        assert "is on" not in result.stdout
    # The full name of the branch still answers: the side commit is not on main's history.
    result = _on_branch(work, "--commit", side, "--branch", "refs/remotes/origin/main")
    assert result.returncode == 1 and "is not on" in result.stderr, result.stderr
    assert git(work, "for-each-ref") == before


def test_the_policy_at_the_branch_must_name_it(work, origin):
    # GitHub's default branch (the workflow passes the event's) and the policy's base_branch
    # must agree: a policy on main naming another branch is refused, saying both.
    policy = yaml.safe_load((work / POLICY).read_text())
    policy["base_branch"] = "trunk"
    (work / POLICY).write_text(yaml.safe_dump(policy, sort_keys=False))
    git(work, "commit", "--quiet", "-am", "base branch trunk")
    git(work, "push", "--quiet", "origin", "main")
    git(work, "fetch", "--quiet", "origin")
    result = _on_branch(work, "--branch", "origin/main")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "names base_branch 'trunk', not 'main'" in line, line


def test_a_commit_on_the_branch_passes(work, origin):
    result = _on_branch(work, "--branch", "origin/main")
    assert result.returncode == 0, result.stderr
    assert "is on origin/main's history" in result.stdout


def test_a_tag_alone_named_like_the_branch_is_no_branch(work, origin):
    """In a detached release checkout there is no local `main`: a bare `--branch main` would
    name only a pushed tag `main`, pointing at the side commit."""
    side = _side_commit(work)
    git(work, "checkout", "--quiet", "--detach", side)
    git(work, "branch", "--quiet", "-D", "main")
    git(work, "tag", "main", side)
    result = _on_branch(work, "--commit", side, "--branch", "main")
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert "names refs/tags/main, not a branch" in line, line
    assert "is on" not in result.stdout


def test_a_short_hash_that_is_also_a_tag_is_refused(work, origin):
    """`--commit abc1234` where a tag `abc1234` exists: git takes the tag; conveyor refuses."""
    side = _side_commit(work)
    main = git(work, "rev-parse", "origin/main")
    git(work, "tag", main[:10], side)  # a tag named like main's short hash, on the side commit
    result = _on_branch(work, "--commit", main[:10])
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert "ambiguous" in line and f"refs/tags/{main[:10]}" in line, line
