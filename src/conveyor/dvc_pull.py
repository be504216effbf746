"""Pull what a command reads from the DVC remote when DVC tracks it: a CI job starts from a
checkout in which DVC's outputs are only pointers."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import yaml

from conveyor import tools
from conveyor.errors import DataError

__all__ = ["pull_tracked", "tracked"]


def _lock_outputs(root: Path) -> set[PurePosixPath]:
    """Every stage output dvc.lock records (repository-relative); none without a readable lock."""
    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return set()
    stages = lock.get("stages") if isinstance(lock, dict) else None
    outputs = set()
    for stage in (stages or {}).values() if isinstance(stages, dict) else []:
        outs = stage.get("outs") if isinstance(stage, dict) else None
        for out in outs if isinstance(outs, list) else []:
            if isinstance(out, dict) and isinstance(out.get("path"), str):
                outputs.add(PurePosixPath(out["path"]))
    return outputs


def tracked(root: Path, path: Path) -> PurePosixPath | None:
    """``path`` relative to ``root`` when DVC tracks it (a stage output in dvc.lock, a file or
    folder inside one, or a ``.dvc`` pointer beside it); None for anything else, git's files and
    paths outside the repository included."""
    try:
        relative = PurePosixPath(path.resolve().relative_to(root.resolve()).as_posix())
    except ValueError:
        return None
    pointers = [relative, *relative.parents]
    if any((root / f"{p}.dvc").is_file() for p in pointers if p != PurePosixPath(".")):
        return relative
    outputs = _lock_outputs(root)
    return relative if any(p in outputs for p in pointers) else None


def pull_tracked(root: Path, paths: list[Path]) -> list[PurePosixPath]:
    """``dvc pull`` those of ``paths`` DVC tracks (the rest are left as they are); the paths
    pulled. A failed pull is a DataError with DVC's own reason."""
    targets = list(dict.fromkeys(t for p in paths if (t := tracked(root, p)) is not None))
    if targets:
        result = tools.run(
            [*tools.python_tool("dvc"), "pull", "--", *map(str, targets)], cwd=root, timeout=3600
        )
        if result.returncode != 0:
            names = " ".join(map(str, targets))
            raise DataError(f"dvc pull {names}: {tools.failure_reason(result)}")
    return targets
