"""What counts as evidence that a release passed, and how a broken record is reported.

- The regression baseline is the newest *promoted* release (its record committed in an
  environment), never a tag: a tag on a refused release no longer washes the gate out.
- A release whose commit never reached the base branch is refused by promote and by
  `release verify --branch`.
- A record in an environment's history that is not UTF-8 / not a record: one line, exit 2 where
  it is what runs now; passed over with a warning further back (rollback still works).
- One exit-code rule for records: no record at all (not UTF-8, not JSON, not an object) exit 2;
  a JSON object that breaks the schema exit 1. An unreadable gates section at the released
  commit is a bad input (exit 2), not a failed gate.

Real git, real DVC, real bare remotes on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor.cli import main
from tests.conveyor.promotion.test_promote_trust import _release, project  # noqa: F401 - a fixture, used by name
from tests.conveyor.release.test_release_baseline import (  # noqa: F401 - fixtures, used by name
    _model,
    _record,
    _tag_commit,
    repo,
)
from tests.conveyor.release.test_release_verdicts import (  # noqa: F401 - a fixture, used by name
    cli,
    commit,
    run,
    template,
)
from tests.promotion_repos import clone, make_remote, merge, record, write_record

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration


def _refs(where: Path) -> str:
    return run(where, "git", "for-each-ref", "--format=%(refname) %(objectname)").stdout


# --- 1: a tag is no evidence --------------------------------------------------------------------


def test_a_tag_on_a_refused_release_is_not_the_next_ones_baseline(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    v1 = _tag_commit(repo, "v1.0.0")
    regressed = _model(repo, 0.48, "a model 0.08 worse than v1.0.0")  # tags v1.1.0 itself
    code, out, _, _ = _record(capsys, repo, tmp_path / "refused", "v1.1.0")
    assert code == 1 and "0.08 worse than baseline" in out  # refused: never promoted
    run(repo, "git", "tag", "v1.1.1-rc.1", regressed)  # a pre-release tag on it too
    (repo / "NOTES.md").write_text("docs only\n")
    commit(repo, "docs")
    code, out, err, path = _record(capsys, repo, tmp_path / "next", "v1.1.1")
    assert code == 1, out + err
    assert f"1 of 1 rules failed against previous release v1.0.0 ({v1[:12]})" in out
    assert load_baseline(path) == v1
    # verify derives the same baseline: the refused record does not verify either.
    code, _, err = cli(capsys, "release", "verify", str(path), "--repo", str(repo))
    assert code == 1 and "did not pass" in err


def load_baseline(path: Path) -> str:
    return json.loads(path.read_text())["gates"]["metrics"]["inputs"]["baseline_commit"]


def test_no_promoted_release_means_no_baseline_whatever_the_tags(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    # Drop the promotion of v1.0.0: only tags remain, and tags prove nothing.
    run(repo, "git", "reset", "-q", "--hard", "HEAD~1")
    _model(repo, 0.45, "a worse model")
    code, out, err, path = _record(capsys, repo, tmp_path / "r", "v1.1.0")
    assert code == 0, out + err
    assert load_baseline(path) == "none (first release)"
    assert "no previous release live at " in path.read_text()
    assert ": regression rules not applied" in path.read_text()


# --- 12: a commit off the base branch -----------------------------------------------------------


def test_promote_and_verify_refuse_a_commit_that_is_not_on_the_base_branch(
    capsys,
    project,  # noqa: F811 - the fixture
    tmp_path,
):
    work, origin = project
    run(work, "git", "checkout", "-q", "-b", "side")
    (work / "NOTES.md").write_text("only on a side branch\n")
    side = commit(work, "a commit that never reached main")
    # Recorded with the side branch as the default branch: what a release job must refuse.
    path = _release(work, tmp_path / "side", "--branch", "side")
    assert json.loads(path.read_text())["git_commit"] == side
    capsys.readouterr()
    # Without --branch, verify finds origin/main itself (the policy's base branch).
    for extra in ((), ("--branch", "origin/main")):
        code, _, err = cli(capsys, "release", "verify", str(path), "--repo", str(work), *extra)
        assert code == 1
        assert f"commit {side[:12]} is not on origin/main's history" in err
        assert len(err.strip().splitlines()) == 1
    code, _, err = cli(
        capsys, "release", "verify", str(path), "--repo", str(work), "--branch", "nope"
    )
    assert code == 2 and "--branch nope: no such branch" in err
    code, _, err = cli(capsys, "release", "verify", str(path), "--no-commit-check", "--branch", "x")
    assert code == 2 and "--branch needs the commit check" in err
    before = _refs(origin), _refs(work)
    code, out, err = cli(
        capsys, "promote", "--env", "dev", "--record", str(path), "--repo", str(work)
    )
    assert code == 1, err
    assert f"commit {side[:12]} is not on origin/main's history" in err
    assert "Traceback" not in err and out == ""
    assert (_refs(origin), _refs(work)) == before  # nothing pushed, no branch moved
    # Once the commit is merged into main, the same record is promoted.
    run(work, "git", "push", "-q", "origin", "side:main")
    code, _, err = cli(
        capsys, "release", "verify", str(path), "--repo", str(work), "--branch", "origin/main"
    )
    assert code == 0, err
    code, _, err = cli(
        capsys, "promote", "--env", "dev", "--record", str(path), "--repo", str(work), "--no-push"
    )
    assert code == 0, err


# --- 5 and 14: records that are no records, in an environment's history ---------------------


@pytest.fixture
def env_repo(tmp_path: Path) -> Path:
    """A clone whose dev ran v1.0.0 then v2.0.0 (merged promotions); records name no real
    commit, so promotions here skip the commit check."""
    work = clone(make_remote(tmp_path), tmp_path / "work")
    for version in ("v1.0.0", "v2.0.0"):
        path = write_record(tmp_path / f"{version}.json", record(version))
        args = ["promote", "--env", "dev", "--record", str(path), "--repo", str(work)]
        assert main([*args, "--no-commit-check"]) == 0
        merge(work, "dev")
    return work


def _commit_dev_record(work: Path, content: bytes, message: str) -> None:
    (work / "deploy/environments/dev/release.json").write_bytes(content)
    run(work, "git", "commit", "-q", "-am", message)
    run(work, "git", "push", "-q", "origin", "main")


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_a_non_utf8_record_in_history_is_passed_over_by_rollback_and_status(capsys, env_repo):
    good = (env_repo / "deploy/environments/dev/release.json").read_bytes()
    _commit_dev_record(env_repo, b"\xff\xfe", "a broken record")
    capsys.readouterr()
    # What runs now cannot be read: one line, exit 2, from status and rollback alike.
    for args in (("status", "--ref", "origin/main"), ("rollback", "--env", "dev", "--no-push")):
        code, out, err = cli(capsys, *args, "--repo", str(env_repo))
        assert code == 2, err
        assert "deploy/environments/dev/release.json: not UTF-8 text (release record)" in err
        assert len(_lines(err)) == 1 and "Traceback" not in err
    _commit_dev_record(env_repo, good, "restore v2.0.0")
    code, out, err = cli(
        capsys, "status", "--ref", "origin/main", "--json", "--repo", str(env_repo)
    )
    assert code == 0, err
    assert json.loads(out)[0]["version"] == "v2.0.0"
    code, out, err = cli(
        capsys,
        "rollback",
        "--env",
        "dev",
        "--no-push",
        "--no-commit-check",
        "--repo",
        str(env_repo),
    )
    assert code == 0, err
    assert "title=Roll back dev to v1.0.0" in out
    assert "not UTF-8 text (release record) (passed over in dev's history)" in err


@pytest.mark.parametrize(
    ("content", "code", "said"),
    [
        (b"[]", 2, "expected a JSON object, got a list (release record)"),
        (b"null", 2, "expected a JSON object, got nothing (null) (release record)"),
        (b"{", 2, "not JSON (line 1"),
        (b'{"version": "v3.0.0"}', 1, "Field required"),
    ],
)
def test_one_exit_code_rule_for_a_record_that_is_not_one(capsys, env_repo, content, code, said):
    _commit_dev_record(env_repo, content, "a bad record")
    capsys.readouterr()
    got, _, err = cli(capsys, "status", "--ref", "origin/main", "--repo", str(env_repo))
    assert (got, len(_lines(err))) == (code, 1), err
    assert said in err
    got, out, err = cli(
        capsys,
        *("promote", "--env", "staging", "--from-environment", "dev"),
        *("--repo", str(env_repo), "--no-commit-check", "--no-push"),
    )
    assert (got, out, len(_lines(err))) == (code, "", 1), err


def test_an_unreadable_gates_section_at_the_commit_is_a_bad_input(capsys, repo, tmp_path):  # noqa: F811 - the fixture
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("better: lower", "better: sideways"))
    commit(repo, "a gates section that is not one")
    code, out, err, path = _record(capsys, repo, tmp_path / "r", "v1.1.0")
    assert code == 2, out + err
    assert "gates: not a valid gates section (rules.0.better:" in err
    assert len(_lines(err)) == 1 and not path.exists()
