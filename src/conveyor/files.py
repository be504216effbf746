"""File writing that never leaves a half-written output behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conveyor.errors import UserError


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(target: Path, data: Any) -> None:
    """Write ``data`` as stable, human-diffable JSON (sorted keys, 2-space indent), atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def require_writable_dir(path: Path, option: str = "--out") -> None:
    """A usage error (exit 2, one line) unless ``path`` is a folder, or could be created as one,
    that this process may write. Creates nothing: a refused command leaves no trace."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if path.exists() and not path.is_dir():
        problem = "not a folder"
    elif not probe.is_dir():
        problem = f"{probe} is not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"no permission to write in {probe}"
    else:
        return
    raise UserError(f"{option} {path}: cannot write there ({problem})")


def require_writable_file(path: Path, option: str = "--out") -> None:
    """A usage error (exit 2, one line) unless ``path`` is a file, or could be created as one,
    in a folder this process may write. Creates nothing."""
    if path.exists() and not path.is_file():
        raise UserError(f"{option} {path}: cannot write there (not a file)")
    require_writable_dir(path.parent, option=f"{option} {path}: its folder")
