"""CNV_GHA_4: no `${{ github.event.* }}` (or head_ref) expanded inside a `run:` script."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.github_actions.checks.base_github_action_check import BaseGithubActionsCheck
from checkov.yaml_doc.enums import BlockType

# Wider than checkov's CKV_GHA_2 list: any event field is attacker-controlled in some event, and
# the expression is pasted into the script before the shell runs it.
# Any spelling: github.event.x, github.event['x'], toJSON(github.event), github.head_ref.
INJECTION = re.compile(r"\$\{\{[^}]*\bgithub(\.event\b|\[\s*['\"]event['\"]\s*\]|\.head_ref\b)")


class EventInRun(BaseGithubActionsCheck):
    def __init__(self) -> None:
        super().__init__(
            name="run: and github-script code do not interpolate ${{ github.event }}",
            id="CNV_GHA_4",
            block_type=BlockType.ARRAY,
            supported_entities=("jobs.*.steps[]",),
        )
        self.guideline = (
            "pass it through env: (e.g. `env: TITLE: ${{ github.event.pull_request.title }}`) "
            'and use "$TITLE" in the script'
        )

    def scan_conf(self, conf: dict[str, Any]) -> tuple[CheckResult, dict[str, Any]]:
        if not isinstance(conf, dict):
            return CheckResult.UNKNOWN, conf
        run = conf.get("run")
        if isinstance(run, str) and INJECTION.search(run):
            return CheckResult.FAILED, conf
        # actions/github-script evaluates `script:` as JavaScript: the same injection.
        if str(conf.get("uses", "")).startswith("actions/github-script@"):
            script = (conf.get("with") or {}).get("script")
            if isinstance(script, str) and INJECTION.search(script):
                return CheckResult.FAILED, conf
        return CheckResult.PASSED, conf


check = EventInRun()
