"""`promote.plan` decides and writes nothing; `promote.apply` writes exactly what the plan said.
Real git repositories: a bare remote on disk and a clone (tests/promotion_repos.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.promotion.promote import Change, NoOp, Pending, Plan, Refused, apply, plan
from conveyor.promotion.rollback import plan_rollback
from conveyor.promotion.trust import Trust
from conveyor.release import ReleaseRecord
from tests.promotion_repos import digest_of, git, merge, record

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

# These records name no real commit: tying verdicts to one is test_promote_trust.py.
NO_COMMIT_CHECK = Trust(commit_check=False)


def _record(version: str, **options) -> ReleaseRecord:
    return ReleaseRecord.model_validate(record(version, **options))


def _objects(repo: Path) -> set[str]:
    listed = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
    return set(listed.split())


def _files(work: Path) -> dict[str, str]:
    """Every file of the working tree (git's own folder aside) and its content hash."""
    return {
        path.relative_to(work).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(work.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(work).parts
    }


def _state(origin: Path, work: Path) -> dict[str, object]:
    """What a write would change: the remote's refs and objects, the clone's refs, HEAD,
    worktrees, index and files. (FETCH_HEAD and objects fetched from the remote are reads.)"""
    return {
        "remote refs": git(origin, "for-each-ref", "--format=%(refname) %(objectname)"),
        "remote objects": _objects(origin),
        "refs": git(work, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(work, "rev-parse", "--symbolic-full-name", "HEAD")
        + git(work, "rev-parse", "HEAD"),
        "worktrees": git(work, "worktree", "list", "--porcelain"),
        "status": git(work, "status", "--porcelain", "--ignored", "--untracked-files=all"),
        "stash": git(work, "stash", "list"),
        "files": _files(work),
    }


def _plan_read_only(origin: Path, work: Path, make: Callable[[], Plan]) -> Plan:
    """Run a plan and fail if it wrote anything: no ref, file, worktree or commit of its own
    (every object the clone has after it is one it had, or one the remote has)."""
    before, objects = _state(origin, work), _objects(work)
    step = make()
    assert _state(origin, work) == before
    assert _objects(work) <= objects | _objects(origin)
    return step


def _plan(origin: Path, work: Path, env: str, release: ReleaseRecord) -> Plan:
    return _plan_read_only(origin, work, lambda: plan(work, env, release, trust=NO_COMMIT_CHECK))


def _apply(work: Path, step: Plan, *, push: bool = True) -> str:
    assert isinstance(step, Change), step
    outcome = apply(work, step, push=push)
    assert outcome is not None and outcome.changed
    return outcome.commit


def test_a_change_is_planned_without_writing_and_applied_as_planned(origin, work):
    release = _record("v1.0.0")
    step = _plan(origin, work, "dev", release)
    assert isinstance(step, Change)
    assert step.branch == "promote/dev"
    assert step.expected is None  # the remote has no promote/dev yet: the lease says so
    assert step.parent == git(work, "rev-parse", "origin/main")
    assert sorted(step.files) == [
        "deploy/environments/dev/release.json",
        "deploy/environments/dev/release/kustomization.yaml",
    ]
    assert digest_of("v1.0.0") in step.files["deploy/environments/dev/release/kustomization.yaml"]
    assert f"Image-Digest: {digest_of('v1.0.0')}" in step.message
    assert "promotes **dev** to **v1.0.0**" in step.body
    assert step.unchecked  # the commit check was skipped, and the plan says so

    # apply writes what the plan said: that commit, on that parent, those files, that message.
    commit = _apply(work, step)
    assert git(origin, "rev-parse", "refs/heads/promote/dev") == commit
    assert git(work, "rev-parse", f"{commit}^") == step.parent
    changed = git(work, "diff", "--name-only", step.parent, commit).splitlines()
    assert sorted(changed) == sorted(step.files)
    for path, content in step.files.items():
        assert git(work, "show", f"{commit}:{path}") == content.rstrip("\n")
    assert git(work, "log", "-1", "--format=%B", commit) == step.message


def test_the_state_check_sees_a_write(origin, work):
    """The read-only check above is not blind: applying the same plan changes what it compares
    (the remote's branch when pushed, the local branch with push=False)."""
    step = _plan(origin, work, "dev", _record("v1.0.0"))
    before = _state(origin, work)
    _apply(work, step, push=False)
    after = _state(origin, work)
    assert after["refs"] != before["refs"]
    assert after["remote refs"] == before["remote refs"]
    _apply(work, _plan(origin, work, "dev", _record("v1.0.0")))
    assert _state(origin, work)["remote refs"] != after["remote refs"]


def test_a_release_already_pending_is_planned_as_pending(origin, work):
    release = _record("v1.0.0")
    pushed = _apply(work, _plan(origin, work, "dev", release))
    step = _plan(origin, work, "dev", release)
    assert isinstance(step, Pending)
    assert step.commit == pushed  # the branch the pull request shows
    assert step.message == "v1.0.0 is already pending on promote/dev"
    assert step.title.startswith("Promote dev to v1.0.0")
    assert "promotes **dev** to **v1.0.0**" in step.body  # a re-run can still open the PR


def test_a_release_already_live_is_planned_as_nothing_to_do(origin, work):
    release = _record("v1.0.0")
    _apply(work, _plan(origin, work, "dev", release))
    merge(work, "dev")
    step = _plan(origin, work, "dev", release)
    assert isinstance(step, NoOp)
    assert step.message == "v1.0.0 is already live in dev"


@pytest.mark.parametrize(
    ("env", "options", "reason"),
    [
        ("staging", {}, "staging needs v1.0.0"),
        ("dev", {"registry": "docker.io/someone/else"}, "registry not allowed"),
    ],
)
def test_a_promotion_the_policy_forbids_is_planned_as_refused(origin, work, env, options, reason):
    step = _plan(origin, work, env, _record("v1.0.0", **options))
    assert isinstance(step, Refused)
    assert step.branch == f"promote/{env}"
    assert any(reason in line for line in step.reasons), step.reasons


def test_a_newer_pending_release_is_refused_not_replaced(origin, work):
    _apply(work, _plan(origin, work, "dev", _record("v1.1.0", created_days_ago=1)))
    step = _plan(origin, work, "dev", _record("v1.0.0", created_days_ago=3))
    assert isinstance(step, Refused)
    assert "carries v1.1.0, newer than v1.0.0" in step.reasons[0]


def test_a_rollback_is_planned_without_writing(origin, work):
    for version in ("v1.0.0", "v1.1.0"):
        _apply(work, _plan(origin, work, "dev", _record(version)))
        merge(work, "dev")
    step = _plan_read_only(origin, work, lambda: plan_rollback(work, "dev", trust=NO_COMMIT_CHECK))
    assert isinstance(step, Change)
    assert step.title.startswith("Roll back dev to v1.0.0")
    assert "Rolled-Back-From: v1.1.0" in step.message
    assert digest_of("v1.0.0") in step.files["deploy/environments/dev/release.json"]
