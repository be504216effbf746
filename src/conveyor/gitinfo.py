"""Read-only facts about the git checkout a command runs in."""

from __future__ import annotations

from pathlib import Path

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
