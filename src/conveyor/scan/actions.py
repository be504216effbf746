"""conveyor's own rules on the steps of workflows and composite actions (action.yml), with the
YAML read here rather than by checkov: checkov only reads .github/workflows, and these rules need
the parsed `${{ }}` expressions and the shell each step runs in.

- CNV_GHA_1 (composite actions; checkov runs it on workflows): remote `uses:` pinned to a SHA.
- CNV_GHA_4: no untrusted context value (expressions.UNTRUSTED, any spelling) pasted into a
  `run:` script or an actions/github-script `script:`.
- CNV_GHA_5: a `run:` that pipes runs with pipefail (`shell: bash`, at the step or as
  `defaults.run.shell` of the job or workflow, or `set -o pipefail` in the script)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from conveyor.scan.expressions import untrusted_paths
from conveyor.scan.model import Finding
from conveyor.scan.settings import ScanConfig
from conveyor.scan.shell import fails_on_pipes, has_pipe, sets_pipefail

PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
DIGEST = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def is_pinned(uses: str) -> bool:
    """Same rule as CNV_GHA_1: local paths, full commit SHAs and image digests pass."""
    uses = uses.strip()
    return uses.startswith("./") or bool(PINNED.match(uses) or DIGEST.match(uses))


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if k.value == key), None)


def _steps(steps: yaml.Node | None) -> list[tuple[int, dict[str, Any]]]:
    """Each step of a steps list with its 1-based line."""
    if not isinstance(steps, yaml.SequenceNode):
        return []
    out = []
    for item in steps.value:
        value = yaml.safe_load(yaml.serialize(item))
        if isinstance(value, dict):
            out.append((item.start_mark.line + 1, value))
    return out


def _default_shell(node: yaml.Node | None) -> str | None:
    """`defaults.run.shell` of a workflow or job node."""
    shell = _child(_child(_child(node, "defaults"), "run"), "shell")
    return str(shell.value) if isinstance(shell, yaml.ScalarNode) else None


def _step_findings(
    step: dict[str, Any], shell: str | None, path: Path, line: int, config: ScanConfig
) -> list[Finding]:
    """CNV_GHA_4 and CNV_GHA_5 for one step; ``shell`` is the inherited default, if any."""
    findings = []
    run = step.get("run")
    scripts = [run] if isinstance(run, str) else []
    # actions/github-script evaluates `script:` as JavaScript: the same injection.
    if str(step.get("uses", "")).startswith("actions/github-script@"):
        script = (step.get("with") or {}).get("script")
        scripts += [script] if isinstance(script, str) else []
    for script in scripts:
        untrusted = untrusted_paths(script)
        if untrusted:
            findings.append(
                _finding(
                    "CNV_GHA_4",
                    f"Script interpolates untrusted ${{{{ }}}} values: {', '.join(untrusted)}",
                    path,
                    line,
                    config,
                )
            )
    if isinstance(run, str) and has_pipe(run):
        effective = step.get("shell", shell)
        effective = str(effective) if effective is not None else None
        if fails_on_pipes(effective) is False and not sets_pipefail(run):
            findings.append(
                _finding(
                    "CNV_GHA_5",
                    f"run: pipes without pipefail (shell: {effective or 'default, bash -e'}): "
                    "a failing command before the last `|` does not fail the step",
                    path,
                    line,
                    config,
                )
            )
    return findings


def scan_workflow(root: Path, path: Path) -> list[tuple[int, dict[str, Any], str | None]]:
    """Each step of every job of a workflow: (line, step, the job's or workflow's default
    shell)."""
    node = yaml.compose((root / path).read_text(encoding="utf-8"))
    top = _default_shell(node)
    jobs = _child(node, "jobs")
    out = []
    if isinstance(jobs, yaml.MappingNode):
        for _, job in jobs.value:
            shell = _default_shell(job) or top
            out += [(line, step, shell) for line, step in _steps(_child(job, "steps"))]
    return out


def scan_file(root: Path, path: Path, config: ScanConfig, composite: bool) -> list[Finding]:
    """Findings for a workflow or a composite action; a `# checkov:skip=ID:reason` on a step's
    first lines is honoured as in workflows (the caller records it)."""
    findings = []
    if composite:
        node = yaml.compose((root / path).read_text(encoding="utf-8"))
        # A composite step has no defaults to inherit: each `run:` names its shell.
        steps: list[tuple[int, dict[str, Any], str | None]] = [
            (line, step, None) for line, step in _steps(_child(_child(node, "runs"), "steps"))
        ]
    else:
        steps = scan_workflow(root, path)
    for line, step, shell in steps:
        uses = step.get("uses")
        if composite and isinstance(uses, str) and not is_pinned(uses):
            findings.append(
                _finding(
                    "CNV_GHA_1", "Remote action is not pinned to a commit SHA", path, line, config
                )
            )
        findings += _step_findings(step, shell, path, line, config)
    return findings


def scan_action(root: Path, path: Path, config: ScanConfig) -> list[Finding]:
    """Findings for one composite action."""
    return scan_file(root, path, config, composite=True)


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
