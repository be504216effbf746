"""What a scan finds, in one shape whichever tool found it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Finding", "ScanResult", "Severity", "Suppressed"]

Severity = Literal["critical", "high", "medium", "low"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class Finding:
    """One failed check at one place: which policy, where, and what to change."""

    policy_id: str
    title: str
    severity: Severity
    file: str  # repository-relative, forward slashes
    line: int
    remedy: str
    resource: str = ""
    source: str = "checkov"  # checkov | conveyor | pip-audit

    def where(self) -> str:
        """``file:line`` as editors and GitHub understand it."""
        return f"{self.file}:{self.line}"

    def to_json(self) -> dict[str, Any]:
        """A plain dict for scan.json."""
        return asdict(self)


@dataclass(frozen=True)
class Suppressed:
    """A finding that a reviewed suppression (inline skip or baseline entry) accounts for."""

    policy_id: str
    file: str
    line: int
    reason: str
    how: str  # inline | baseline | config

    def to_json(self) -> dict[str, Any]:
        """A plain dict for scan.json."""
        return asdict(self)


@dataclass
class ScanResult:
    """Everything one `conveyor scan` saw."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)  # kind -> scanned files
    checks_passed: int = 0

    @property
    def clean(self) -> bool:
        """No finding left after suppressions."""
        return not self.findings

    def sorted_findings(self) -> list[Finding]:
        """Worst first, then by place."""
        return sorted(
            self.findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.file, f.line, f.policy_id)
        )
