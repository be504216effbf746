"""Composite actions (action.yml): checkov only reads .github/workflows, so the two step rules
that matter inside an action, CNV_GHA_1 (pinned `uses:`) and CNV_GHA_4 (no event expressions in
`run:`), are applied here with the same patterns as policies/checkov/github_actions/."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from conveyor.scan.model import Finding
from conveyor.scan.settings import ScanConfig

PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
DIGEST = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
INJECTION = re.compile(  # the pattern of policies/checkov/github_actions/cnv_gha_4_event_in_run
    r"\$\{\{[^}]*\bgithub(\.event\b|\[\s*['\"]event['\"]\s*\]|\.head_ref\b)"
)
SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def is_pinned(uses: str) -> bool:
    """Same rule as CNV_GHA_1: local paths, full commit SHAs and image digests pass."""
    uses = uses.strip()
    return uses.startswith("./") or bool(PINNED.match(uses) or DIGEST.match(uses))


def _steps(text: str) -> list[tuple[int, dict]]:
    """Each step of ``runs.steps`` with its 1-based line."""
    node = yaml.compose(text)
    runs = _child(node, "runs")
    steps = _child(runs, "steps") if runs is not None else None
    if not isinstance(steps, yaml.SequenceNode):
        return []
    out = []
    for item in steps.value:
        value = yaml.safe_load(yaml.serialize(item))
        if isinstance(value, dict):
            out.append((item.start_mark.line + 1, value))
    return out


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if k.value == key), None)


def scan_action(root: Path, path: Path, config: ScanConfig) -> list[Finding]:
    """Findings for one composite action; a `# checkov:skip=ID:reason` on a step's lines is
    honoured as in workflows (the caller records it)."""
    text = (root / path).read_text(encoding="utf-8")
    findings = []
    for line, step in _steps(text):
        uses, run = step.get("uses"), step.get("run")
        if isinstance(uses, str) and not is_pinned(uses):
            findings.append(
                _finding(
                    "CNV_GHA_1", "Remote action is not pinned to a commit SHA", path, line, config
                )
            )
        if isinstance(run, str) and INJECTION.search(run):
            findings.append(
                _finding("CNV_GHA_4", "run: interpolates ${{ github.event.* }}", path, line, config)
            )
    return findings


def _finding(policy_id: str, title: str, path: Path, line: int, config: ScanConfig) -> Finding:
    info = config.policies.get(policy_id)
    return Finding(
        policy_id,
        title,
        info.severity if info else "high",
        path.as_posix(),
        line,
        info.remedy if info else "see docs/security.md",
        source="conveyor",
    )


def inline_skip(root: Path, finding: Finding) -> tuple[str, str] | None:
    """(policy id, reason) of a `checkov:skip` comment on the finding's line or the next one."""
    lines = (root / finding.file).read_text(encoding="utf-8").splitlines()
    for text in lines[finding.line - 1 : finding.line + 1]:
        match = SKIP.search(text)
        if match and match.group(1) == finding.policy_id:
            return match.group(1), (match.group(2) or "").strip()
    return None
