"""CNV_K8S_2: containers drop every Linux capability (`capabilities.drop: [ALL]`)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.kubernetes.checks.resource.base_container_check import BaseK8sContainerCheck

__all__ = ["check"]


class DropAllCapabilities(BaseK8sContainerCheck):
    def __init__(self) -> None:
        # checkov's CKV_K8S_28 is satisfied by dropping NET_RAW alone; we want all of them gone.
        super().__init__(
            name="Containers drop all capabilities",
            id="CNV_K8S_2",
            guideline="set securityContext.capabilities.drop: [ALL] "
            "(add back only what the process needs, with a reason)",
        )

    def scan_container_conf(self, metadata: dict[str, Any], conf: dict[str, Any]) -> CheckResult:
        self.evaluated_container_keys = ["securityContext/capabilities/drop"]
        context = conf.get("securityContext") or {}
        drop = (context.get("capabilities") or {}).get("drop") or []
        return CheckResult.PASSED if "ALL" in drop else CheckResult.FAILED


check = DropAllCapabilities()
