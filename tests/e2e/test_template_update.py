"""Template updates of a generated project (`conveyor template update`, which runs `copier
update`): a new template commit arrives under the project's names, the project's own edit
survives, a line both changed is a conflict shown with markers, and the one pull request is
opened or updated. Real copier, git and a bare remote; gh is the recording stub (no GitHub)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.template_projects import BIN, commit_all, copier_copy, env, git, template_copy
from tests.gh_stub import GhStub


def _conveyor(project: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "conveyor"), "template", "update", *args],
        cwd=project,
        env=env(**extra),
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A template copy, and a skeleton project made from it with a local edit committed."""
    template = template_copy(tmp_path_factory.mktemp("conveyor-template"))
    project = tmp_path_factory.mktemp("projects") / "churn"
    result, _, _ = copier_copy(template, project, project_name="churn-model", github_owner="acme")
    assert result.returncode == 0, result.stderr[-3000:]
    commit_all(project, "new project")
    # The project's own edits: one line the template leaves alone, one it will change too.
    _replace(project / "Makefile", "help: ## list the targets", "help: ## list OUR targets")
    _replace(project / "docs/security.md", "# ", "# Our security notes: ")
    commit_all(project, "our edits")
    # The template's next commit: a fix in the Makefile, a new line naming the example in
    # deploy/, and the same first line of docs/security.md as the project.
    _replace(
        template / "Makefile", "clean: ## remove the environments", "clean: ## remove the venvs"
    )
    with (template / "deploy/base/service.yaml").open("a") as service:
        service.write("# template v2: served by the forecast package's forecaster\n")
    _replace(template / "docs/security.md", "# ", "# Template v2 security: ")
    commit_all(template, "template v2")
    return template, project


def test_update_merges_the_template_change_keeps_our_edit_and_shows_the_conflict(
    generated: tuple[Path, Path],
) -> None:
    template, project = generated
    before = git(project, "rev-parse", "HEAD").strip()
    done = _conveyor(project, "--vcs-ref", "HEAD")
    assert done.returncode == 0, done.stderr
    assert "changed=true" in done.stdout and "conflicts=1" in done.stdout
    # One commit on the update branch, on top of the project's history.
    assert git(project, "branch", "--show-current").strip() == "template-update"
    assert git(project, "rev-parse", "HEAD~1").strip() == before
    assert git(project, "status", "--porcelain").strip() == ""
    makefile = (project / "Makefile").read_text()
    assert "help: ## list OUR targets" in makefile  # our edit survived
    assert "clean: ## remove the venvs" in makefile  # the template's change arrived
    # ... under the project's names.
    service = (project / "deploy/base/service.yaml").read_text()
    assert service.endswith("# template v2: served by the churn_model package's churn-model\n")
    # Both changed the first line of docs/security.md: a conflict, both sides kept, not lost.
    security = (project / "docs/security.md").read_text()
    assert security.startswith("<<<<<<< ")
    assert "# Our security notes: " in security and "# Template v2 security: " in security
    message = git(project, "log", "-1", "--format=%B")
    assert "docs/security.md" in message and "Conflicts" in message
    answers = (project / ".copier-answers.yml").read_text()
    assert git(template, "rev-parse", "--short", "HEAD").strip() in answers


def test_update_refuses_uncommitted_changes_in_one_line(generated: tuple[Path, Path]) -> None:
    _, project = generated
    head = git(project, "rev-parse", "HEAD").strip()
    branches = git(project, "branch", "--list")
    (project / "notes.txt").write_text("work in progress\n")
    try:
        done = _conveyor(project)
    finally:
        (project / "notes.txt").unlink()
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "uncommitted change(s)" in done.stderr
    assert git(project, "rev-parse", "HEAD").strip() == head
    assert git(project, "branch", "--list") == branches


def test_update_outside_a_generated_project_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x\n")
    commit_all(tmp_path, "not made by copier")
    done = _conveyor(tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no answers file" in done.stderr


def test_pull_request_is_opened_once_then_updated(
    generated: tuple[Path, Path], tmp_path: Path
) -> None:
    _, project = generated
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(project, "switch", "--quiet", "main")
    git(project, "remote", "add", "origin", str(remote))
    git(project, "push", "--quiet", "origin", "main")
    gh = GhStub(tmp_path / "gh", {"auth status": "", "pr list": "", "pr create": "https://x/pr/7"})
    extra = {"PATH": gh.env()["PATH"], "GH_TOKEN": "t" * 8}
    first = _conveyor(project, "--vcs-ref", "HEAD", "--pull-request", **extra)
    assert first.returncode == 0, first.stderr
    assert "pull_request_url=https://x/pr/7" in first.stdout
    pushed = git(remote, "rev-parse", "refs/heads/template-update").strip()
    assert pushed == git(project, "rev-parse", "HEAD").strip()
    create = next(call for call in gh.calls() if call[:2] == ["pr", "create"])
    assert create[create.index("--head") + 1] == "template-update"
    assert create[create.index("--base") + 1] == "main"
    assert "(1 conflict(s) to resolve)" in create[create.index("--title") + 1]
    # A later run replaces the branch and edits the open pull request: never a second one.
    git(project, "switch", "--quiet", "main")
    gh.answer({"auth status": "", "pr list": "https://x/pr/7"})
    again = _conveyor(project, "--vcs-ref", "HEAD", "--pull-request", **extra)
    assert again.returncode == 0, again.stderr
    assert [c[:2] for c in gh.calls()].count(["pr", "create"]) == 1
    assert next(c[:3] for c in gh.calls() if c[:2] == ["pr", "edit"]) == [
        "pr",
        "edit",
        "https://x/pr/7",
    ]
    assert (
        git(remote, "rev-parse", "refs/heads/template-update").strip()
        == git(project, "rev-parse", "HEAD").strip()
    )


def test_an_up_to_date_project_gets_no_commit_and_stays_where_it_was(
    generated: tuple[Path, Path], tmp_path: Path
) -> None:
    template, _ = generated
    project = tmp_path / "fresh"
    result, _, _ = copier_copy(template, project, project_name="fresh", github_owner="acme")
    assert result.returncode == 0, result.stderr[-3000:]
    commit_all(project, "new project")
    head = git(project, "rev-parse", "HEAD").strip()
    done = _conveyor(project, "--vcs-ref", "HEAD")
    assert done.returncode == 0, done.stderr
    assert "changed=false" in done.stdout and "up to date" in done.stderr
    assert git(project, "branch", "--show-current").strip() == "main"
    assert git(project, "rev-parse", "HEAD").strip() == head
