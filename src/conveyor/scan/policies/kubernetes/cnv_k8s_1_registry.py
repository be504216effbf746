"""CNV_K8S_1: container images come from an allowed registry (`allowed_registries` in
policies/checkov/config.yaml)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from checkov.common.models.enums import CheckResult
from checkov.kubernetes.checks.resource.base_container_check import BaseK8sContainerCheck

__all__ = ["check"]

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def allowed_registries() -> list[str]:
    """From the settings `conveyor scan` hands over (CONVEYOR_SCAN_SETTINGS, JSON), else from
    config.yaml beside this policy, so a bare `checkov --external-checks-dir` applies it too."""
    settings = os.environ.get("CONVEYOR_SCAN_SETTINGS")
    if settings:
        data = json.loads(Path(settings).read_text(encoding="utf-8"))
    else:
        data = yaml.safe_load(CONFIG.read_text(encoding="utf-8")) or {}
    return [str(r).rstrip("/") for r in data.get("allowed_registries") or []]


def registry_of(image: str) -> str:
    """The registry host of an image reference; Docker Hub when the first part is not a host."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def allowed(image: str, registries: list[str]) -> bool:
    """True when the image starts with an allowed `registry[/path]` prefix."""
    name = image.split("@", 1)[0]
    if registry_of(name) == "docker.io" and not name.startswith("docker.io/"):
        name = f"docker.io/{name if '/' in name else 'library/' + name}"
    return any(name == r or name.startswith(r + "/") for r in registries)


class AllowedRegistry(BaseK8sContainerCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Container images come from an allowed registry",
            id="CNV_K8S_1",
            guideline="use an image from a registry in allowed_registries "
            "(policies/checkov/config.yaml), or add the registry there in a reviewed PR",
        )

    def scan_container_conf(self, metadata: dict[str, Any], conf: dict[str, Any]) -> CheckResult:
        self.evaluated_container_keys = ["image"]
        image = conf.get("image")
        if not isinstance(image, str):
            return CheckResult.FAILED
        return CheckResult.PASSED if allowed(image, allowed_registries()) else CheckResult.FAILED


check = AllowedRegistry()
