"""CNV_GHA_3: a `pull_request_target` workflow never checks out the pull request's code."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.github_actions.checks.base_github_action_check import BaseGithubActionsCheck
from checkov.yaml_doc.enums import BlockType

__all__ = ["check"]

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


# Any expression or shell variable: its value may be the PR head (set through env:, outputs...).
DYNAMIC = re.compile(r"\$\{\{|\$[A-Za-z_{]")
GIT_FETCH = re.compile(r"\bgit\b[^\n]*\b(fetch|checkout|pull|clone|switch|worktree)\b")


def checks_out_head(step: dict[str, Any]) -> bool:
    """A step that may fetch the PR's code: a checkout of a computed ref or repository, `gh pr
    checkout`, or a git fetch/checkout of the head or of anything computed at run time."""
    uses = str(step.get("uses", ""))
    # GitHub resolves owner and repository names without case: Actions/Checkout is checkout.
    if uses.strip().lower().startswith("actions/checkout@"):
        inputs = step.get("with") or {}
        return any(
            PR_HEAD.search(str(inputs.get(key, ""))) or DYNAMIC.search(str(inputs.get(key, "")))
            for key in ("ref", "repository")
        )
    run = str(step.get("run", ""))
    if re.search(r"\bgh\s+pr\s+checkout\b", run):
        return True
    return bool(GIT_FETCH.search(run) and (PR_HEAD.search(run) or DYNAMIC.search(run)))


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
