"""`conveyor template update` before any work: what is not a project made by copier, or not a
clean one, is refused with one line and exit 2, and no branch is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.template_projects import commit_all, env, git

CONVEYOR = Path(sys.executable).parent / "conveyor"


def _update(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONVEYOR), "template", "update", "--root", str(root)],
        env=env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (None, "no answers file"),
        ("- a list\n", "not a copier answers file"),
        ("project_name: x\n", "not a copier answers file (no _src_path)"),
        ("_src_path: [unclosed\n", "cannot read the answers file"),
    ],
)
def test_not_a_generated_project(tmp_path: Path, answers: str | None, message: str) -> None:
    (tmp_path / "README.md").write_text("x\n")
    if answers is not None:
        (tmp_path / ".copier-answers.yml").write_text(answers)
    commit_all(tmp_path, "start")
    done = _update(tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert "Traceback" not in done.stderr
    assert git(tmp_path, "branch", "--list").split() == ["*", "main"]


def test_not_a_git_repository(tmp_path: Path) -> None:
    (tmp_path / ".copier-answers.yml").write_text("_src_path: gh:acme/conveyor\n")
    done = _update(tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not a git repository" in done.stderr


def test_uncommitted_changes_are_counted_and_refused(tmp_path: Path) -> None:
    (tmp_path / ".copier-answers.yml").write_text("_src_path: gh:acme/conveyor\n_commit: v1\n")
    commit_all(tmp_path, "start")
    (tmp_path / ".copier-answers.yml").write_text("_src_path: gh:acme/conveyor\n_commit: v2\n")
    (tmp_path / "new.txt").write_text("x\n")
    done = _update(tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "2 uncommitted change(s): commit or stash them before a template update"
    )
    assert git(tmp_path, "branch", "--list").split() == ["*", "main"]
