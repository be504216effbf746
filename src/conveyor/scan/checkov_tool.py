"""Find conveyor's pinned checkov, or install it into a venv of its own in the user's cache.

checkov pins old packaging, networkx and dpath: installed in the project's environment it would
downgrade them, so it always gets a venv of its own (TOOLCHAIN.md). Where it is looked for:
``--checkov PATH``, ``$CONVEYOR_CHECKOV``, the repository's ``.tools/checkov`` (conveyor's own
Makefile), then the per-user cache ``$XDG_CACHE_HOME/conveyor`` (``~/.cache/conveyor``), where it
is installed when it is not there yet."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from pathlib import Path

from conveyor.errors import UserError
from conveyor.files import cache_root
from conveyor.tools import failure_reason, run

__all__ = ["CHECKOV_VERSION", "COMPLETE", "cache_dir", "find"]

CHECKOV_VERSION = "3.3.30"
# Written last by an install: a folder without it is a broken install, removed and redone.
COMPLETE = ".conveyor-complete"


def cache_dir() -> Path:
    """The venv conveyor installs checkov into: per user, per checkov and Python version."""
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return cache_root() / f"checkov-{CHECKOV_VERSION}-{python}"


def find(root: Path, explicit: Path | None = None, uv: str | None = None) -> str:
    """The checkov executable to run; installs the pinned one into the cache when none is found.
    A missing ``explicit`` path or a failed install is a usage error (exit 2) naming the fix."""
    if explicit is not None:
        if not explicit.is_file() or not os.access(explicit, os.X_OK):
            raise UserError(f"--checkov {explicit}: not an executable file")
        return str(explicit)
    candidates = [
        os.environ.get("CONVEYOR_CHECKOV", ""),
        str(root / ".tools/checkov/bin/checkov"),
        str(Path(sys.prefix).parent / ".tools/checkov/bin/checkov"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return str(install(cache_dir(), uv))


def install(venv: Path, uv: str | None = None) -> Path:
    """checkov==CHECKOV_VERSION in the venv ``venv`` (uv when there is one, else venv + pip);
    one install at a time per folder. Returns its `checkov` executable."""
    checkov = venv / "bin" / "checkov"
    if (venv / COMPLETE).is_file() and checkov.is_file():
        return checkov
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        lock = (venv.parent / f"{venv.name}.lock").open("w")
    except OSError as exc:
        raise UserError(
            f"cannot install checkov into {venv}: {exc.strerror}; set CONVEYOR_CACHE_DIR to a "
            "writable folder, or pass --checkov PATH"
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / COMPLETE).is_file() and checkov.is_file():  # another process installed it
            return checkov
        shutil.rmtree(venv, ignore_errors=True)
        print(f"installing checkov=={CHECKOV_VERSION} into {venv} (once) ...", file=sys.stderr)
        uv = _uv(uv)
        if uv:
            steps = [
                [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
                [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                 f"checkov=={CHECKOV_VERSION}"],
            ]  # fmt: skip
        else:
            steps = [
                [sys.executable, "-m", "venv", str(venv)],
                [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                 "--disable-pip-version-check", f"checkov=={CHECKOV_VERSION}"],
            ]  # fmt: skip
        for step in steps:
            result = run(step, timeout=900)
            if result.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)  # nothing half-installed is left behind
                raise UserError(
                    f"could not install checkov=={CHECKOV_VERSION} into {venv} "
                    f"({failure_reason(result)}): run once with access to PyPI, or pass "
                    "--checkov PATH to an installed checkov"
                )
        (venv / COMPLETE).write_text(f"checkov=={CHECKOV_VERSION}\n")
    return checkov


def _uv(given: str | None) -> str | None:
    """The uv to install with: the one given, on PATH, or beside this Python (conveyor[serve]
    brings it); None: venv + pip."""
    beside = Path(sys.executable).parent / "uv"
    for candidate in (given, "uv", str(beside)):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    return None
