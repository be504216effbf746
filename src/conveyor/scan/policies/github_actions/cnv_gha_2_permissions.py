"""CNV_GHA_2: the workflow declares `permissions:`, at the top or on every job."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.github_actions.checks.base_github_action_check import BaseGithubActionsCheck
from checkov.yaml_doc.enums import BlockType

__all__ = ["check"]


class ExplicitPermissions(BaseGithubActionsCheck):
    def __init__(self) -> None:
        # DOCUMENT: the check sees the whole workflow (top-level permissions and every job).
        super().__init__(
            name="The workflow declares explicit GITHUB_TOKEN permissions",
            id="CNV_GHA_2",
            block_type=BlockType.DOCUMENT,
            supported_entities=("jobs",),
        )
        self.guideline = (
            "add `permissions:` (e.g. `contents: read`) at the top, or on every job, "
            "granting only what each job needs"
        )

    def scan_conf(self, conf: dict[str, Any]) -> tuple[CheckResult, dict[str, Any]]:
        if not isinstance(conf, dict) or not isinstance(conf.get("jobs"), dict):
            return CheckResult.UNKNOWN, conf
        if "permissions" in conf:
            return CheckResult.PASSED, conf
        for name, job in conf["jobs"].items():
            if name.startswith("__"):  # checkov's line markers
                continue
            if isinstance(job, dict) and "permissions" not in job:
                return CheckResult.FAILED, job  # report at the first job without permissions
        return CheckResult.PASSED, conf


check = ExplicitPermissions()
