"""pip-audit over the locked dependencies. It needs the advisory service (PyPI), so it runs in
`make scan` and CI; the report it writes is parsed here into findings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from conveyor.config import format_validation_error
from conveyor.errors import UserError
from conveyor.files import atomic_path, read_json
from conveyor.scan.model import Finding
from conveyor.tools import failure_reason, run


def export_requirements(root: Path, uv: str, target: Path) -> Path:
    """uv.lock as a hashed requirements file (every group): exactly what gets installed."""
    result = run(
        [
            uv,
            "export",
            "--frozen",
            "--all-groups",
            "--no-emit-project",
            "--format",
            "requirements-txt",
        ],
        cwd=root,
    )
    if result.returncode != 0:
        raise UserError(f"uv export failed: {failure_reason(result)}")
    with atomic_path(target) as tmp:
        tmp.write_text(result.stdout, encoding="utf-8")
    return target


def audit_lock(root: Path, uv: str, out: Path) -> tuple[int, list[Finding]]:
    """pip-audit on ``root``'s uv.lock (needs the network: CI, `make scan`): the number of
    locked packages audited, and one finding per known vulnerability. Its requirements file and
    JSON report are left in ``out``."""
    report = out / "pip-audit.json"
    requirements = export_requirements(root, uv, out / "requirements.lock.txt")
    audited = run(audit_command(requirements, report), cwd=root)
    if audited.returncode not in (0, 1) or not report.is_file():  # 1: vulnerabilities found
        raise UserError(f"pip-audit failed: {failure_reason(audited)}")
    findings = parse_report(report)
    return len(read_json(report, "pip-audit JSON report")["dependencies"]), findings


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
