"""CNV_GHA_3: a `pull_request_target` workflow never checks out the pull request's code."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.github_actions.checks.base_github_action_check import BaseGithubActionsCheck
from checkov.yaml_doc.enums import BlockType

# The PR head in any of its spellings: its sha, its ref, the merge ref, the fork's repository.
PR_HEAD = re.compile(
    r"github\.event\.pull_request\.head\.(sha|ref|repo)|github\.head_ref"
    r"|refs/pull/|github\.event\.pull_request\.merge_commit_sha"
)


def triggers(on: Any) -> set[str]:
    """The event names of an `on:` value (string, list or mapping)."""
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return {str(item) for item in on}
    if isinstance(on, dict):
        return {str(key) for key in on if not str(key).startswith("__")}
    return set()


def checks_out_head(step: dict[str, Any]) -> bool:
    """A checkout step (or a git command) that fetches the PR's head."""
    uses = str(step.get("uses", ""))
    if uses.startswith("actions/checkout@"):
        return any(PR_HEAD.search(str(v)) for v in (step.get("with") or {}).values())
    run = str(step.get("run", ""))
    return bool(re.search(r"\bgit\b.*\b(fetch|checkout|pull|clone)\b", run) and PR_HEAD.search(run))


class PullRequestTargetCheckout(BaseGithubActionsCheck):
    def __init__(self) -> None:
        super().__init__(
            name="pull_request_target does not check out the pull request head",
            id="CNV_GHA_3",
            block_type=BlockType.DOCUMENT,
            supported_entities=("jobs",),
        )
        self.guideline = (
            "use `on: pull_request` to build PR code; keep pull_request_target for "
            "trusted-base-only jobs (labelling, comments) that never check out the PR head"
        )

    def scan_conf(self, conf: dict[str, Any]) -> tuple[CheckResult, dict[str, Any]]:
        if not isinstance(conf, dict) or not isinstance(conf.get("jobs"), dict):
            return CheckResult.UNKNOWN, conf
        # PyYAML reads a bare `on:` key as the boolean True.
        on = conf.get("on", conf.get(True))
        if "pull_request_target" not in triggers(on):
            return CheckResult.PASSED, conf
        for name, job in conf["jobs"].items():
            if str(name).startswith("__") or not isinstance(job, dict):
                continue
            for step in job.get("steps") or []:
                if isinstance(step, dict) and checks_out_head(step):
                    return CheckResult.FAILED, step
        return CheckResult.PASSED, conf


check = PullRequestTargetCheckout()
