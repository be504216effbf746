"""Values a user gives that reach git are never read as git options, and every output of a
promotion is checked before any ref moves. Real git: a bare remote on disk and a clone of it;
`conveyor` runs as its installed entry point, as a workflow step runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.promotion_repos import IDENTITY, REPO, git, record, write_record

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"

# `git fetch --upload-pack=CMD` runs CMD through the shell: it writes PWNED where git runs.
UPLOAD_PACK = "--upload-pack=touch PWNED"


def _conveyor(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if args[0] in ("promote", "rollback"):
        # Made-up records (no real commit): tying verdicts to one is test_promote_trust.py.
        args = (*args, "--no-commit-check")
    return subprocess.run(
        [str(CONVEYOR), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **IDENTITY},
        timeout=300,
    )


def _state(root: Path, work: Path, origin: Path) -> tuple[object, ...]:
    """Every file under ``root`` (with its size), every ref of the clone and of the remote."""
    files = sorted(
        (str(path.relative_to(root)), path.stat().st_size)
        for path in root.rglob("*")
        if path.is_file() and not {".git", "origin.git"} & set(path.relative_to(root).parts)
    )
    refs = "--format=%(refname) %(objectname)"
    return (
        files,
        git(work, "for-each-ref", refs),
        git(origin, "for-each-ref", refs),
        git(work, "worktree", "list", "--porcelain"),
    )


def _live_in_dev(work: Path, tmp_path: Path) -> Path:
    """v1.0.0 merged into dev: a rollback and a status have history to read."""
    path = write_record(tmp_path / "v1.json", record("v1.0.0"))
    result = _conveyor(work, "promote", "--env", "dev", "--record", str(path))
    assert result.returncode == 0, result.stderr
    git(work, "fetch", "--quiet", "origin")
    git(work, "merge", "--quiet", "--no-ff", "-m", "merge", "origin/promote/dev")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    return path


HOSTILE = {
    "promote --remote": (
        "promote",
        "--env",
        "dev",
        "--record",
        "{record}",
        f"--remote={UPLOAD_PACK}",
    ),
    "promote --remote -x": ("promote", "--env", "dev", "--record", "{record}", "--remote=-h"),
    "promote --env": ("promote", f"--env={UPLOAD_PACK}", "--record", "{record}"),
    "rollback --remote": ("rollback", "--env", "dev", f"--remote={UPLOAD_PACK}"),
    "rollback --env": ("rollback", "--env=--output=PWNED"),
    "rollback --to": ("rollback", "--env", "dev", "--to=--output=PWNED"),
    "status --ref": ("status", "--ref=--output=PWNED"),
    "gate --baseline-ref": (
        *("gate", "--params", str(REPO / "params.yaml"), "--out", "{tmp}/gate"),
        "--baseline-ref=--output=PWNED",
    ),
    "gate params baseline_ref": (
        "gate",
        "--params",
        "{tmp}/hostile-params.yaml",
        "--out",
        "{tmp}/g",
    ),
    "report --baseline-ref": (
        *("report", "--out", "{tmp}/report.md"),
        *("--plots-dir", "{tmp}/plots", "--baseline-ref=--output=PWNED"),
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_an_option_shaped_value_never_reaches_git(tmp_path, origin, work, case):
    good = _live_in_dev(work, tmp_path)
    params = REPO.joinpath("params.yaml").read_text(encoding="utf-8")
    assert "baseline_ref: HEAD" in params  # what the hostile copy replaces
    (tmp_path / "hostile-params.yaml").write_text(
        params.replace("baseline_ref: HEAD", "baseline_ref: --output=PWNED"), encoding="utf-8"
    )
    args = [a.format(record=good, tmp=tmp_path) for a in HOSTILE[case]]
    before = _state(tmp_path, work, origin)
    result = _conveyor(work, *args)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "must not start with '-'" in result.stderr
    assert not list(tmp_path.rglob("PWNED")), "git ran the value as an option"
    assert _state(tmp_path, work, origin) == before


def test_a_remote_named_normally_still_promotes(tmp_path, origin, work):
    # The separator (--end-of-options) changes nothing for a real remote name or path.
    path = write_record(tmp_path / "v1.json", record("v1.0.0"))
    git(work, "remote", "add", "upstream", str(origin))
    result = _conveyor(work, "promote", "--env", "dev", "--record", str(path), "--remote=upstream")
    assert result.returncode == 0, result.stderr
    assert git(origin, "rev-parse", "--verify", "--quiet", "refs/heads/promote/dev")


@pytest.mark.parametrize("where", ["a folder", "under a file", "in a missing folder under a file"])
@pytest.mark.parametrize("command", ["promote", "rollback"])
def test_a_bad_body_out_is_refused_before_any_ref_moves(tmp_path, origin, work, where, command):
    good = _live_in_dev(work, tmp_path)
    (tmp_path / "a-file").write_text("x")
    body_out = {
        "a folder": tmp_path,
        "under a file": tmp_path / "a-file" / "body.md",
        "in a missing folder under a file": tmp_path / "a-file" / "sub" / "body.md",
    }[where]
    args = ["--env", "staging", "--record", str(good)] if command == "promote" else ["--env", "dev"]
    if command == "rollback":
        # Something to roll back to: v2.0.0 live in dev after v1.0.0.
        path = write_record(tmp_path / "v2.json", record("v2.0.0", created_days_ago=1))
        assert _conveyor(work, "promote", "--env", "dev", "--record", str(path)).returncode == 0
        git(work, "fetch", "--quiet", "origin")
        git(work, "merge", "--quiet", "--no-ff", "-m", "merge", "origin/promote/dev")
        git(work, "push", "--quiet", "origin", "HEAD:main")
    before = _state(tmp_path, work, origin)
    result = _conveyor(work, command, *args, "--body-out", str(body_out))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--body-out" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""  # no key=value lines: nothing happened
    assert _state(tmp_path, work, origin) == before
    # The same command with a good --body-out goes through and writes the body.
    body = tmp_path / "out" / "body.md"
    result = _conveyor(work, command, *args, "--body-out", str(body))
    assert result.returncode == 0, result.stderr
    assert "changed=true" in result.stdout
    assert body.read_text(encoding="utf-8").strip()
