"""Template updates of a project made from conveyor (`copier copy`): one commit on one branch.

`copier update` re-renders the project's template version and the new one with the project's
answers (.copier-answers.yml) and merges the difference into the project three ways: the
project's own edits stay, and a line both sides changed is left between conflict markers for a
person to resolve in the pull request (where a marker also fails the checks, so it cannot merge
unseen). This module runs it on a clean tree, on a branch of its own, and commits the result.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from conveyor import extras, git, github
from conveyor.errors import UserError
from conveyor.tools import failure_reason, python_tool, run

__all__ = ["Update", "check_ready", "new", "propose", "update"]

ANSWERS = ".copier-answers.yml"
# git merge-file's first marker line, as `copier update --conflict inline` writes it.
CONFLICT = re.compile(r"^<{7} ", re.MULTILINE)


@dataclass(frozen=True)
class Update:
    """What an update did: its commit on ``branch`` (None: the project is up to date)."""

    branch: str
    template_commit: str
    commit: str | None = None
    changed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One paragraph for the commit message and the pull request."""
        if not self.changed:
            return f"The project is up to date with template commit {self.template_commit}."
        lines = [
            f"`copier update` to template commit {self.template_commit}: "
            f"{len(self.changed)} file(s) changed, merged three ways with this project's edits."
        ]
        if self.conflicts:
            lines += [
                "",
                "Conflicts (both sides changed the same lines; resolve the markers here):",
                *(f"- `{path}`" for path in self.conflicts),
            ]
        return "\n".join(lines)


def template_commit(root: Path) -> str:
    """The template commit the project's answers file records."""
    path = root / ANSWERS
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"{path}: no answers file: this project was not made by `copier copy`"
        ) from None
    except (OSError, yaml.YAMLError) as error:
        raise UserError(f"{path}: cannot read the answers file: {error}") from error
    if not isinstance(answers, dict) or not answers.get("_src_path"):
        raise UserError(f"{path}: not a copier answers file (no _src_path)")
    return str(answers.get("_commit", "unknown"))


def check_ready(root: Path) -> Path:
    """The project's top folder, if an update may start there; a usage error otherwise."""
    top = git.toplevel(root)
    if top is None:
        raise UserError(f"{root}: not a git repository (copier update merges through git)")
    template_commit(top)
    extras.require("template update")
    status = git.output(top, "status", "--porcelain", "--untracked-files=normal")
    if status.strip():
        count = len(status.splitlines())
        raise UserError(
            f"{top}: {count} uncommitted change(s): commit or stash them before a template update"
        )
    return top


def update(root: Path, branch: str, vcs_ref: str | None = None) -> Update:
    """Run `copier update` on a new ``branch`` from HEAD and commit what it changed."""
    top = check_ready(root)
    # Where to come back to when the update fails or has nothing to commit.
    start = git.output(top, "branch", "--show-current").strip()
    back = ["switch", "--quiet", start] if start else ["switch", "--quiet", "--detach", "@{-1}"]
    switched = git.run(top, "switch", "--quiet", "-C", branch)
    if switched.returncode != 0:
        raise UserError(f"cannot make branch {branch!r}: {failure_reason(switched)}")
    command = [*python_tool("copier"), "update", "--trust", "--defaults", "--conflict", "inline"]
    if vcs_ref:
        command += ["--vcs-ref", vcs_ref]
    result = run(command, cwd=top, timeout=1800)
    if result.returncode != 0:
        # Nothing of a failed update is kept: the tree was clean before it started.
        git.run(top, "reset", "--quiet", "--hard")
        git.run(top, "clean", "--quiet", "-fd")
        git.run(top, *back)
        raise UserError(f"copier update failed: {failure_reason(result)}")
    new_commit = template_commit(top)
    git.run(top, "add", "--all")
    changed = [p for p in git.output(top, "diff", "--cached", "--name-only", "-z").split("\0") if p]
    if not changed:
        git.run(top, *back)
        return Update(branch=branch, template_commit=new_commit)
    conflicts = [p for p in changed if _has_markers(top / p)]
    outcome = Update(branch, new_commit, None, changed, conflicts)
    message = f"template: update to {new_commit}\n\n{outcome.summary()}\n"
    committed = git.run(top, "commit", "--quiet", "--no-verify", "-m", message)
    if committed.returncode != 0:
        raise UserError(f"cannot commit the template update: {failure_reason(committed)}")
    return Update(branch, new_commit, git.head_commit(top), changed, conflicts)


def new(template: str, destination: Path, answers: dict[str, str], vcs_ref: str | None) -> None:
    """`copier copy` of ``template`` into ``destination`` with ``answers`` (no questions asked:
    the defaults for the rest). An invalid answer is a usage error naming the question and the
    reason, and nothing is written (copier validates every answer before it copies a file)."""
    extras.require("template new")
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise UserError(f"{destination}: exists and is not an empty folder")
    above = next(p for p in destination.absolute().parents if p.exists())
    if not above.is_dir():
        raise UserError(f"{destination}: {above} is not a folder")
    command = [*python_tool("copier"), "copy", "--trust", "--defaults", "--quiet"]
    for key, value in answers.items():
        command += ["--data", f"{key}={value}"]
    if vcs_ref:
        command += ["--vcs-ref", vcs_ref]
    result = run([*command, "--", template, str(destination)], timeout=1800)
    if result.returncode != 0:
        reason = failure_reason(result).removeprefix("ValueError: ")
        raise UserError(f"copier copy {template}: {reason}")


def propose(top: Path, outcome: Update, remote: str, base: str) -> tuple[str, str]:
    """Push the update's branch and open (or update) its one pull request against ``base``;
    (its title, its URL). The next update replaces both: a force push with a lease on what was
    read, so a push by someone else in between is not overwritten silently."""
    if outcome.commit is None:
        raise UserError("nothing to propose: the project is up to date")
    expected = git.fetch_branch(top, remote, outcome.branch)
    pushed = git.push_with_lease(top, remote, outcome.commit, outcome.branch, expected)
    if pushed.returncode != 0:
        raise UserError(f"{remote} refused the push of {outcome.branch}: {failure_reason(pushed)}")
    title = f"Template update to {outcome.template_commit}"
    if outcome.conflicts:
        title += f" ({len(outcome.conflicts)} conflict(s) to resolve)"
    with tempfile.TemporaryDirectory(prefix="conveyor-pr-") as folder:
        body = Path(folder) / "template-update.md"
        body.write_text(outcome.summary() + "\n", encoding="utf-8")
        return title, github.upsert_pull_request(outcome.branch, base, title, body, top)


def _has_markers(path: Path) -> bool:
    try:
        return bool(CONFLICT.search(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False
