"""Read-only facts about the git checkout a command runs in."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _git(*args: str, cwd: Path | None = None) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def head_commit(cwd: Path | None = None) -> str | None:
    """Full SHA of HEAD, or None outside a repository / before the first commit."""
    return _git("rev-parse", "--verify", "--quiet", "HEAD", cwd=cwd)


def is_dirty(cwd: Path | None = None) -> bool:
    """True when tracked files differ from HEAD (untracked files do not count)."""
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    return bool(status)
