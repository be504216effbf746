"""Read-only facts about the git checkout a command runs in."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conveyor.errors import UserError
from conveyor.tools import run


def _git(*args: str, cwd: Path | None = None) -> str | None:
    result = run(["git", *args], cwd=cwd, timeout=30)
    return result.stdout.strip() if result.returncode == 0 else None


def head_commit(cwd: Path | None = None) -> str | None:
    """Full SHA of HEAD, or None outside a repository / before the first commit."""
    return _git("rev-parse", "--verify", "--quiet", "HEAD", cwd=cwd)


def is_dirty(cwd: Path | None = None) -> bool:
    """True when tracked files differ from HEAD (untracked files do not count)."""
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    return bool(status)


def _refuse_option(value: str, what: str) -> None:
    # A value git would read as an option (`--upload-pack=...`) is never a ref or a commit.
    if value.startswith("-"):
        raise UserError(f"{what} {value!r}: must not start with '-'")


def resolve_commit(ref: str, cwd: Path | None = None) -> str | None:
    """Full SHA of the commit ``ref`` names, or None when it names none here."""
    _refuse_option(ref, "git ref")
    return _git(
        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", cwd=cwd
    )


def is_ancestor(commit: str, ref: str, cwd: Path | None = None) -> bool:
    """True when ``commit`` is ``ref`` or in its history (both must exist)."""
    _refuse_option(commit, "commit")
    _refuse_option(ref, "git ref")
    result = run(["git", "merge-base", "--is-ancestor", commit, ref], cwd=cwd, timeout=60)
    return result.returncode == 0


def show_file(commit: str, path: str, cwd: Path | None = None) -> bytes | None:
    """The bytes of ``path`` as committed at ``commit``; None when it is not a file there."""
    _refuse_option(commit, "commit")
    result = subprocess.run(  # bytes, not text: a committed file need not be UTF-8
        ["git", "cat-file", "blob", f"{commit}:{path}"],
        cwd=cwd,
        capture_output=True,
        check=False,
        timeout=60,
    )
    return result.stdout if result.returncode == 0 else None


def list_files(commit: str, folder: str, cwd: Path | None = None) -> list[str]:
    """Paths of the files directly inside ``folder`` at ``commit`` (none when it is absent)."""
    _refuse_option(commit, "commit")
    listing = _git("ls-tree", "--name-only", "-z", commit, "--", f"{folder.rstrip('/')}/", cwd=cwd)
    return sorted(name for name in (listing or "").split("\0") if name)


def toplevel(path: Path) -> Path | None:
    """The top folder of the work tree ``path`` is in, or None outside a repository."""
    top = _git("rev-parse", "--show-toplevel", cwd=path if path.is_dir() else path.parent)
    return Path(top).resolve() if top else None
