"""Helpers of the template tests: a throw-away template repository, `copier copy`, `make`."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conveyor.git import work_tree_files
from tests.paths import REPO

BIN = Path(sys.executable).parent
IDENTITY = {
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@conveyor.invalid",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@conveyor.invalid",
}


def env(**extra: str) -> dict[str, str]:
    """Quiet, offline, a git identity, conveyor's venv on PATH; the runner's GITHUB_* left out."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
    base.pop("GH_TOKEN", None)
    # A `make` above this test (make test PYTEST_ARGS=...) passes its variables down through
    # MAKEFLAGS: the generated project's own make must not inherit them.
    for key in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS"):
        base.pop(key, None)
    base.update(IDENTITY)
    base.update(DVC_NO_ANALYTICS="1", BENTOML_DO_NOT_TRACK="true", GX_ANALYTICS_ENABLED="False")
    base["PATH"] = os.pathsep.join([str(BIN), base.get("PATH", "")])
    base.pop("VIRTUAL_ENV", None)
    base.update(extra)
    return base


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; its stdout."""
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env(), check=True, capture_output=True, text=True
    ).stdout


def template_copy(where: Path) -> Path:
    """A throw-away copy of this checkout's files (tracked and new, as they are now) as a
    one-commit repository: what `copier copy` of the published repository would see."""
    for name in work_tree_files(REPO) or []:  # tracked and new files, as a commit would carry
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            target = where / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(where, "init", "--quiet", "--initial-branch=main")
    git(where, "add", "--all")
    git(where, "commit", "--quiet", "-m", "conveyor")
    # Packed, as a clone from GitHub is: copier renders the path of every file of the template
    # it walks, `.git` included, and loose objects are hundreds of files (49 s against 14 s).
    git(where, "gc", "--quiet")
    return where


def copier_copy(
    template: Path, dest: Path, **answers: str
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """`copier copy` with ``answers`` (no questions asked); the result, its wall time and the
    CPU time it took (copier, git and the task: what a quiet machine's wall time would be)."""
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    start, used = time.monotonic(), _children_cpu()
    result = subprocess.run(
        [
            str(BIN / "copier"),
            "copy",
            "--trust",
            "--defaults",
            "--quiet",
            "--vcs-ref",
            "HEAD",
            *data,
            str(template),
            str(dest),
        ],
        env=env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    return result, time.monotonic() - start, _children_cpu() - used


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def commit_all(project: Path, message: str) -> None:
    """Commit everything in ``project`` (a new repository on first use)."""
    if not (project / ".git").exists():
        git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--no-verify", "-m", message)


def make(
    project: Path, target: str, timeout: float = 1800
) -> tuple[subprocess.CompletedProcess[str], float]:
    """`make TARGET` in a generated project with conveyor's uv (no second download of uv) and,
    when this checkout has one, its checkov venv (the pipeline and the fast tests never run
    checkov; `make setup` would install it again)."""
    checkov = REPO / ".tools" / "checkov"
    if checkov.is_dir() and not (project / ".tools" / "checkov").exists():
        (project / ".tools").mkdir(exist_ok=True)
        (project / ".tools" / "checkov").symlink_to(checkov)
    uv = shutil.which("uv", path=str(BIN)) or "uv"
    start = time.monotonic()
    result = subprocess.run(
        ["make", target, f"UV={uv}"],
        cwd=project,
        env=env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    return result, time.monotonic() - start


def files_naming(project: Path, word: str) -> list[str]:
    """Files of ``project`` (git's .git left out) whose path or text names ``word`` (any case)."""
    found = []
    for path in project.rglob("*"):
        relative = path.relative_to(project)
        if ".git" in relative.parts or ".venv" in relative.parts or ".tools" in relative.parts:
            continue
        if word in str(relative).lower():
            found.append(str(relative))
        elif path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if word in text.lower():
                found.append(str(relative))
    return sorted(found)
