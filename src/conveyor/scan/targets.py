"""Which files a scan looks at, and what kind each one is."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from conveyor import git
from conveyor.errors import UserError
from conveyor.files import special_kind
from conveyor.scan.model import Finding

__all__ = ["SKIP_DIRS", "classify", "collect", "excluded", "has_workload", "unreadable"]

# Never ours to scan when a folder is walked: environments, caches, VCS internals. A file git
# lists (tracked, or untracked and not ignored) is scanned wherever it sits.
SKIP_DIRS = {
    ".git",
    ".venv",
    ".tools",
    "node_modules",
    "__pycache__",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".dvc-remote",
    "cache",
}
BENTO_DOCKERFILE = Path("build/bento/context/env/docker/Dockerfile")
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}


@dataclass
class Targets:
    """Files to scan, by kind (paths relative to the root)."""

    workflows: list[Path] = field(default_factory=list)
    actions: list[Path] = field(default_factory=list)
    dockerfiles: list[Path] = field(default_factory=list)
    manifests: list[Path] = field(default_factory=list)
    kustomize_dirs: list[Path] = field(default_factory=list)
    all_files: list[Path] = field(default_factory=list)  # for the secrets scan


def _walk(root: Path, start: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root / start):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        found += [(Path(dirpath) / name).relative_to(root) for name in filenames]
    return found


def _git_files(root: Path) -> list[Path] | None:
    """Tracked and untracked-but-not-ignored files: what a commit could carry."""
    listed = git.work_tree_files(root)
    if listed is None:
        return None
    return [Path(p) for p in listed if (root / p).is_file()]


def collect(root: Path, paths: list[Path]) -> list[Path]:
    """Files under the given paths (default: the repository, as git sees it, plus the exported
    Bento's Dockerfile). A path that does not exist is a usage error. Nothing is dropped here:
    what the scan cannot or may not read is decided, and reported, by the caller."""
    files: list[Path] = []
    listed: list[Path] | None = None  # git's files, read once for the folders given
    if not paths:
        files = _git_files(root) or _walk(root, Path())
        if (root / BENTO_DOCKERFILE).is_file():  # git-ignored build output, scanned when present
            files.append(BENTO_DOCKERFILE)
    for path in paths:
        full = path if path.is_absolute() else root / path
        if not full.exists():
            raise UserError(f"{path}: no such file or directory")
        if not _inside(full, root):
            raise UserError(
                f"{path}: outside the repository root {root} (scan from that repository, or "
                "pass --root with the repository's folder)"
            )
        rel = full.resolve().relative_to(root.resolve())
        if not full.is_dir():
            files.append(rel)
            continue
        if listed is None:
            listed = _git_files(root) or []
        # What git lists under the folder is scanned wherever it sits (a tracked file under a
        # folder named cache/ or node_modules/ too, as in the full scan); the walk adds the
        # files git does not list, outside the folders that are never ours.
        files += _walk(root, rel) + [p for p in listed if p.is_relative_to(rel)]
    return sorted(set(files))


def excluded(files: list[Path], globs: list[str]) -> set[Path]:
    """The files an `exclude:` glob leaves out of the policy checks. The repository's own
    .github/ is never left out: GitHub runs what is there."""
    return {
        f
        for f in files
        if f.parts[:1] != (".github",) and any(fnmatch.fnmatch(f.as_posix(), g) for g in globs)
    }


def unreadable(root: Path, path: Path, max_bytes: int) -> str | None:
    """Why no check can read the file (a FIFO or device, too large, not UTF-8 text), or None
    when it can."""
    kind = special_kind(root / path)
    if kind:  # asked of stat: opening a FIFO would block the scan for ever
        return f"{kind}, not a regular file"
    size = (root / path).stat().st_size
    if size > max_bytes:
        return f"{size / 1e6:.1f} MB, over the scan's limit of {max_bytes / 1e6:g} MB (max_file_mb)"
    try:
        (root / path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        # checkov's secrets scan (detect-secrets) skips such a file without a word.
        return "not UTF-8 text, which the secrets scan cannot read"
    return None


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def is_yaml(path: Path) -> bool:
    """A YAML file by its name."""
    return path.suffix in (".yml", ".yaml")


def is_dockerfile(path: Path) -> bool:
    """Dockerfile, x.Dockerfile or Dockerfile.x, but not a template that still needs rendering."""
    name = path.name
    if name.endswith((".template", ".j2", ".jinja")):
        return False
    return name == "Dockerfile" or name.endswith(".Dockerfile") or name.startswith("Dockerfile.")


def yaml_problem(root: Path, path: Path) -> tuple[int, str] | None:
    """Line and reason when the file is not well-formed YAML (checkov skips such files silently)."""
    try:
        list(yaml.safe_load_all((root / path).read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return (mark.line + 1 if mark else 1), problem
    except UnicodeDecodeError:
        return 1, "not UTF-8 text"
    return None


def _is_manifest(root: Path, path: Path) -> bool:
    docs = yaml.safe_load_all((root / path).read_text(encoding="utf-8"))
    return any(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs)


def has_workload(path: Path) -> bool:
    """Whether the manifests hold a workload (something that runs containers)."""
    docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    return any(isinstance(d, dict) and d.get("kind") in WORKLOADS for d in docs)


def _kustomize_roots(root: Path, files: list[Path]) -> list[Path]:
    """Kustomization directories that no other kustomization includes: the overlays to render."""
    dirs = {f.parent for f in files if f.name in KUSTOMIZATIONS}
    included: set[Path] = set()
    for d in dirs:
        name = next(n for n in KUSTOMIZATIONS if (root / d / n).is_file())
        data = yaml.safe_load((root / d / name).read_text(encoding="utf-8")) or {}
        for key in ("resources", "bases", "components"):
            for entry in data.get(key) or []:
                target = Path(os.path.normpath(d / str(entry)))
                if target in dirs:
                    included.add(target)
    return sorted(dirs - included)


def classify(root: Path, files: list[Path]) -> tuple[Targets, list[Finding]]:
    """Sort files by kind; malformed YAML is a finding (CNV_YAML_1), never a silent skip."""
    targets = Targets(all_files=list(files))
    problems: list[Finding] = []
    good_yaml = []
    for f in files:
        if is_yaml(f):
            problem = yaml_problem(root, f)
            if problem:
                line, reason = problem
                problems.append(
                    Finding(
                        "CNV_YAML_1",
                        "File is not valid YAML",
                        "high",
                        f.as_posix(),
                        line,
                        f"fix the YAML syntax ({reason}); unparsed files go unchecked",
                        source="conveyor",
                    )
                )
            else:
                good_yaml.append(f)
        elif is_dockerfile(f):
            targets.dockerfiles.append(f)
    targets.kustomize_dirs = _kustomize_roots(root, good_yaml)
    kustomized = {f.parent for f in good_yaml if f.name in KUSTOMIZATIONS}
    for f in good_yaml:
        if "/.github/workflows/" in f"/{f.as_posix()}":
            targets.workflows.append(f)
        elif f.name in ("action.yml", "action.yaml"):
            targets.actions.append(f)
        elif f.name in KUSTOMIZATIONS or any(f.is_relative_to(d) for d in kustomized):
            continue  # scanned as part of its rendered overlay
        elif _is_manifest(root, f):
            targets.manifests.append(f)
    return targets, problems
