"""policies/checkov/config.yaml and the reviewed baseline, validated."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from conveyor.config import Strict, load_model
from conveyor.scan.model import Severity

POLICY_DIR = Path("policies/checkov")


class Exclusion(Strict):
    """A path glob left out of the policy checks, and why. Its files are still searched for
    secrets, and an exclusion never covers the repository's own .github/ (GitHub runs it)."""

    path: str = Field(min_length=1)
    reason: str = Field(min_length=10)


class Unscanned(Strict):
    """One file that no check reads, not even the secrets scan (too large, binary...), and why.
    Listed file by file: a glob would let new files in unread."""

    file: str = Field(min_length=1, pattern=r"^[^*?\[\]]+$")
    reason: str = Field(min_length=10)


class GlobalSkip(Strict):
    """A checkov check that does not apply to this repository at all, and why."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]+$")
    reason: str = Field(min_length=10)


class PolicyInfo(Strict):
    """Severity and the one-line remedy printed with a finding."""

    severity: Severity
    remedy: str = Field(min_length=5)


class ScanConfig(Strict):
    """The scan's settings (see policies/checkov/config.yaml)."""

    allowed_registries: list[str] = Field(default_factory=list)
    exclude: list[Exclusion] = Field(default_factory=list)
    unscanned: list[Unscanned] = Field(default_factory=list)
    # Files above this are not read (not even for secrets) and are findings unless `unscanned`.
    max_file_mb: float = Field(default=10, gt=0)
    skip_checks: list[GlobalSkip] = Field(default_factory=list)
    policies: dict[str, PolicyInfo] = Field(default_factory=dict)


class BaselineEntry(Strict):
    """One reviewed suppression: a policy at a file (optionally one resource), with its reason.
    An empty reason is kept so that the scan can report it as a finding of its own."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]+$")
    file: str = Field(min_length=1)
    resource: str | None = None
    reason: str = ""


class Baseline(Strict):
    """policies/checkov/baseline.yaml."""

    suppressions: list[BaselineEntry] = Field(default_factory=list)


def load_config(policy_dir: Path) -> ScanConfig:
    """The scan settings from ``policy_dir/config.yaml``."""
    return load_model(policy_dir / "config.yaml", ScanConfig)


def load_baseline(policy_dir: Path) -> Baseline:
    """The reviewed suppressions from ``policy_dir/baseline.yaml`` (none when it is absent)."""
    path = policy_dir / "baseline.yaml"
    return load_model(path, Baseline) if path.is_file() else Baseline()
