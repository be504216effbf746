"""pip-audit over the locked dependencies. It needs the advisory service (PyPI), so it runs in
`make scan` and CI; the report it writes is parsed here into findings."""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from conveyor.config import format_validation_error
from conveyor.errors import UserError
from conveyor.files import atomic_path, read_json
from conveyor.scan.model import Finding
from conveyor.tools import failure_reason, run

__all__ = [
    "audit_command",
    "audit_lock",
    "export_requirements",
    "has_requirements",
    "parse_report",
    "split_requirements",
]


@dataclass(frozen=True)
class DirectReference:
    """A locked package that comes from a git repository, a path or a URL, not an index: it has
    no version on PyPI to look up and no hash uv can export, so pip-audit cannot audit it."""

    name: str
    kind: str  # git, path or URL

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


def export_requirements(root: Path, uv: str, target: Path) -> tuple[Path, list[DirectReference]]:
    """uv.lock as a hashed requirements file (every group and extra): what gets installed from
    an index, for pip-audit. The direct references are left out of it and returned: pip-audit
    refuses a requirement without a hash (`conveyor @ git+...`, a path), failing the whole run.
    The workspace's own packages (the project, its members) are not dependencies: not listed."""
    result = run(
        [
            uv,
            "export",
            "--frozen",
            "--all-groups",
            "--all-extras",
            "--no-emit-workspace",  # the repository's own packages: source, not dependencies
            "--format",
            "requirements-txt",
        ],
        cwd=root,
    )
    if result.returncode != 0:
        raise UserError(f"uv export failed: {failure_reason(result)}")
    auditable, direct = split_requirements(result.stdout, _local_names(root))
    with atomic_path(target) as tmp:
        tmp.write_text(auditable, encoding="utf-8")
    return target, direct


def split_requirements(text: str, local_names: dict[str, str]) -> tuple[str, list[DirectReference]]:
    """An exported requirements file -> (the file without its direct references, those
    references). An entry is its first line plus the indented lines under it (hashes, `# via`).
    ``local_names`` names the packages a bare path stands for (`../lib` -> its package)."""
    kept: list[str] = []
    direct: list[DirectReference] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if line[:1].isspace():  # a continuation of the entry above
            if not skipping:
                kept.append(line)
            continue
        reference = _direct_reference(line.strip().removesuffix("\\").strip(), local_names)
        skipping = reference is not None
        if reference is None:
            kept.append(line)
        else:
            direct.append(reference)
    return "".join(kept), direct


def _direct_reference(first: str, local_names: dict[str, str]) -> DirectReference | None:
    """The direct reference an entry's first line makes, or None (a pin, a comment, an option)."""
    editable = first.startswith("-e ")
    spec = first.removeprefix("-e ").split(";", maxsplit=1)[0].strip()
    if not spec or spec.startswith("#") or (spec.startswith("-") and not editable):
        return None  # a comment or an option line (--index-url ...)
    if " @ " not in spec and "==" in spec:
        return None  # a pin from an index, with its hashes
    if " @ " in spec:
        name, url = (part.strip() for part in spec.split(" @ ", 1))
        name = name.split("[")[0]
    else:
        url = spec
        name = local_names.get(url.removeprefix("file://").rstrip("/"), url)
    if url.startswith("git+"):
        kind = "git"
    elif editable or url.startswith(("file:", ".", "/", "~")):
        kind = "path"
    else:
        kind = "URL"
    return DirectReference(name, kind)


def _local_names(root: Path) -> dict[str, str]:
    """Path -> package name of uv.lock's path sources (directory, editable, archive file), in
    the forms an export writes them (relative to ``root``, with or without `./`)."""
    try:
        lock = tomllib.loads((root / "uv.lock").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}  # `uv export --frozen` has just read it: no lock here means no names to add
    names = {}
    for package in lock.get("package", []):
        source = package.get("source", {}) if isinstance(package, dict) else {}
        for key in ("directory", "editable", "path"):
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, str) and "name" in package:
                for form in (value, f"./{value}", str((root / value).resolve())):
                    names[form.rstrip("/")] = str(package["name"])
    return names


def has_requirements(requirements: Path) -> bool:
    """Whether a requirements file names any package (not only comments and options)."""
    lines = requirements.read_text(encoding="utf-8").splitlines()
    return any(line[:1].isalnum() for line in lines)


def audit_lock(root: Path, uv: str, out: Path) -> tuple[int, list[Finding], list[DirectReference]]:
    """pip-audit on ``root``'s uv.lock (needs the network: CI, `make scan`): the number of
    locked packages audited, one finding per known vulnerability, and the direct references
    (git, path, URL) left out because no index version can be looked up for them. Its
    requirements file and JSON report are left in ``out``; with nothing left to audit, pip-audit
    is not started (nor the network asked)."""
    report = out / "pip-audit.json"
    requirements, direct = export_requirements(root, uv, out / "requirements.lock.txt")
    if not has_requirements(requirements):
        return 0, [], direct
    audited = run(audit_command(requirements, report), cwd=root)
    if audited.returncode not in (0, 1) or not report.is_file():  # 1: vulnerabilities found
        raise UserError(f"pip-audit failed: {failure_reason(audited)}")
    findings = parse_report(report)
    count = len(read_json(report, "pip-audit JSON report")["dependencies"])
    return count, findings, direct


def audit_command(requirements: Path, report: Path) -> list[str]:
    """pip-audit on pinned, hashed requirements: no resolver, no install (--disable-pip)."""
    return [
        sys.executable,
        "-m",
        "pip_audit",
        "--disable-pip",
        "--requirement",
        str(requirements),
        "--format",
        "json",
        "--output",
        str(report),
        "--progress-spinner",
        "off",
    ]


class _Report(BaseModel):
    # pip-audit adds keys between releases (`description`, `fixes`, ...): ignore the ones not
    # read, but every key that is read must have the shape it is read as.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Vuln(_Report):
    id: str
    fix_versions: list[str] = []
    aliases: list[str] = []


class _Dependency(_Report):
    name: str
    version: str | None = None  # absent on a package pip-audit skipped (skip_reason)
    vulns: list[_Vuln] = []

    @model_validator(mode="after")
    def _versioned(self) -> _Dependency:
        if self.vulns and self.version is None:
            raise ValueError("a package with vulns needs its version")
        return self


class _Audit(_Report):
    dependencies: list[_Dependency]


def parse_report(path: Path) -> list[Finding]:
    """One finding per vulnerable package version and advisory in a pip-audit JSON report."""
    data: Any = read_json(path, "pip-audit JSON report")  # folder, binary, not JSON: exit 2
    if not isinstance(data.get("dependencies"), list):
        raise UserError(f"{path}: not a pip-audit JSON report (no `dependencies` list)")
    try:
        report = _Audit.model_validate(data)
    except ValidationError as exc:
        # A report of another shape is a usage error (exit 2), never a crash half-way through.
        raise UserError(
            f"not a pip-audit JSON report: {format_validation_error(path, exc)}"
        ) from None
    findings = []
    for dep in report.dependencies:
        for vuln in dep.vulns:
            fixes = ", ".join(vuln.fix_versions) or "none published yet"
            aliases = ", ".join(vuln.aliases)
            findings.append(
                Finding(
                    policy_id=vuln.id,
                    title=f"{dep.name} {dep.version} has a known vulnerability"
                    + (f" ({aliases})" if aliases else ""),
                    severity="high",
                    file="uv.lock",
                    line=1,
                    remedy=f"upgrade {dep.name} (fixed in: {fixes}) with `uv lock "
                    f"--upgrade-package {dep.name}`",
                    resource=f"{dep.name}=={dep.version}",
                    source="pip-audit",
                )
            )
    return findings
