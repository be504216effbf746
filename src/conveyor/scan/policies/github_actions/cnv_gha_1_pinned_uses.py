"""CNV_GHA_1: every remote `uses:` is pinned to a full commit SHA (checkov has no such check)."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.github_actions.checks.base_github_action_check import BaseGithubActionsCheck
from checkov.yaml_doc.enums import BlockType

__all__ = ["check"]

# owner/repo[/path]@<40 hex>; a tag or branch can be moved to other code after review.
PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
DIGEST = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")


def is_pinned(uses: str) -> bool:
    """Local actions are part of the reviewed tree; remote ones need a SHA or an image digest."""
    uses = uses.strip()
    return uses.startswith("./") or bool(PINNED.match(uses) or DIGEST.match(uses))


class PinnedUses(BaseGithubActionsCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Remote actions and reusable workflows are pinned to a full commit SHA",
            id="CNV_GHA_1",
            block_type=BlockType.ARRAY,
            supported_entities=("jobs", "jobs.*.steps[]"),
        )
        self.guideline = "pin it: uses: owner/action@<40-hex commit SHA> # vX.Y.Z"

    def scan_conf(self, conf: dict[str, Any]) -> tuple[CheckResult, dict[str, Any]]:
        if not isinstance(conf, dict):
            return CheckResult.UNKNOWN, conf
        uses = conf.get("uses")
        if not isinstance(uses, str):  # a `run:` step, or a job that is not a reusable workflow
            return CheckResult.PASSED, conf
        return (CheckResult.PASSED if is_pinned(uses) else CheckResult.FAILED), conf


check = PinnedUses()
