"""The scan's settings and reviewed baseline: conveyor's own (shipped in this package, beside its
checkov policies) with a repository's `policies/checkov/` over them, validated.

The rule: custom checks in the repository's folder are added to conveyor's, a file at the same
relative path replaces conveyor's; a key of the repository's config.yaml replaces conveyor's value,
except `policies:` (severity and remedy per check id), merged id by id; the two baselines are
concatenated. A packaged check is turned off with `skip_checks:` and a reason, never silently."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import Field

from conveyor.config import Strict, load_model, read_yaml
from conveyor.errors import ConfigError
from conveyor.scan.model import Severity

__all__ = [
    "PACKAGED",
    "POLICY_DIR",
    "Baseline",
    "BaselineEntry",
    "ScanConfig",
    "checks_dir",
    "image_registries",
    "load_baseline",
    "load_config",
]

POLICY_DIR = Path("policies/checkov")
# conveyor's checkov policies, config.yaml and baseline.yaml: package data, for every repository.
PACKAGED = Path(__file__).with_name("policies")
SETTINGS_FILES = ("config.yaml", "baseline.yaml")


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
    """conveyor's config.yaml with the repository's ``policy_dir/config.yaml`` (when present) over
    it: each key it sets replaces conveyor's, `policies:` is merged check id by check id."""
    config = load_model(PACKAGED / "config.yaml", ScanConfig)
    path = policy_dir / "config.yaml"
    if not path.is_file() or _same(policy_dir, PACKAGED):
        return config
    own = load_model(path, ScanConfig)  # validated alone, so an error names the repository's file
    update = {key: getattr(own, key) for key in own.model_fields_set}
    if "policies" in update:
        update["policies"] = {**config.policies, **own.policies}
    return config.model_copy(update=update)


PROMOTION_POLICY = Path("policies/promotion.yaml")


def image_registries(config: ScanConfig, root: Path) -> list[str]:
    """Where CNV_K8S_1 lets images come from: the config's ``allowed_registries`` and the
    registries of the repository's promotion policy (``registries:``, where its releases are
    pushed). A repository names its own registry once, in the promotion policy; the config
    adds registries for other images (a sidecar's)."""
    policy = root / PROMOTION_POLICY
    registries = list(config.allowed_registries)
    if policy.is_file():
        listed = read_yaml(policy).get("registries") or []
        if not isinstance(listed, list) or not all(isinstance(r, str) for r in listed):
            raise ConfigError(
                f"{PROMOTION_POLICY}: registries: must be a list of registry prefixes"
            )
        registries += [r.rstrip("/") for r in listed if r.rstrip("/") not in registries]
    return registries


def load_baseline(policy_dir: Path) -> Baseline:
    """conveyor's reviewed suppressions, then the repository's ``policy_dir/baseline.yaml``."""
    suppressions = list(load_model(PACKAGED / "baseline.yaml", Baseline).suppressions)
    path = policy_dir / "baseline.yaml"
    if path.is_file() and not _same(policy_dir, PACKAGED):
        suppressions += load_model(path, Baseline).suppressions
    return Baseline(suppressions=suppressions)


def checks_dir(policy_dir: Path, into: Path) -> Path:
    """One folder for `checkov --external-checks-dir`: conveyor's checks, then the repository's
    over them (same relative path: the repository's file wins). checkov loads Python checks only
    from folders holding an `__init__.py`, so every folder gets one."""
    shutil.copytree(PACKAGED, into, ignore=shutil.ignore_patterns("__pycache__"))
    if policy_dir.is_dir() and not _same(policy_dir, PACKAGED):
        for source in sorted(policy_dir.rglob("*")):
            rel = source.relative_to(policy_dir)
            if "__pycache__" in rel.parts or rel.as_posix() in SETTINGS_FILES:
                continue
            target = into / rel
            if source.is_dir():
                target.mkdir(exist_ok=True)
            elif source.is_file():
                shutil.copyfile(source, target)
    for folder in [into, *(p for p in into.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return into


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()
