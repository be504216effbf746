"""`conveyor scan`: collect files, run checkov and conveyor's own checks, apply reviewed
suppressions, write SARIF, JUnit, JSON and markdown."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from conveyor import git
from conveyor.files import atomic_path
from conveyor.scan import actions, checkov_run, checkov_tool, skipped_secrets, suppress, targets
from conveyor.scan.formats import FORMATS
from conveyor.scan.kustomize import render
from conveyor.scan.model import Finding, ScanResult, Suppressed
from conveyor.scan.settings import (
    ScanConfig,
    checks_dir,
    image_registries,
    load_baseline,
    load_config,
)

__all__ = ["scan", "terminal_lines", "write_outputs"]

# What checkov must have read, per framework: a file it skipped (schema-invalid workflow,
# unreadable manifest) would otherwise pass without a word.
CHECKED_KINDS = ("workflows", "manifests", "dockerfiles", "rendered")
CONFIG = "policies/checkov/config.yaml"


def _rel(path: Path, root: Path) -> Path:
    full = path.resolve()
    return full.relative_to(root.resolve()) if full.is_relative_to(root.resolve()) else full


def scan(
    root: Path,
    paths: list[Path],
    policy_dir: Path,
    out: Path,
    extra: list[Finding] | None = None,
    checkov: str | None = None,
) -> ScanResult:
    """Scan ``paths`` (default: the repository) and return every finding and suppression.
    ``policy_dir``: the repository's policies/checkov/ over conveyor's (settings.py; it may be
    absent); ``checkov``: the executable (default: checkov_tool.find)."""
    config = load_config(policy_dir)
    registries = image_registries(config, root)  # read before any work: a bad policy is exit 2
    baseline = load_baseline(policy_dir)
    files = targets.collect(root, paths)
    # Our own previous outputs (rendered manifests, reports) are not sources; a file git tracks
    # is one wherever it sits (a secret committed under the out folder, an `--out .`).
    tracked = git.tracked_files(root)
    files = [
        f
        for f in files
        if f.as_posix() in tracked or not (root / f).resolve().is_relative_to(out.resolve())
    ]
    readable, findings, left_out = _readable(root, files, config, whole_repo=not paths)
    # Exclusions (default scan only) leave files out of the policy checks, not of secrets.
    skipped = targets.excluded(readable, [e.path for e in config.exclude]) if not paths else set()
    found, problems = targets.classify(root, [f for f in readable if f not in skipped])
    found.all_files = readable
    findings += problems
    rendered, render_problems = render(root, found.kustomize_dirs, out / "rendered")
    rendered = [_rel(p, root) for p in rendered]
    # A rendered file is scan output (git-ignored): its findings are reported at the overlay.
    overlay_of = {
        p.as_posix(): f"{d.as_posix()}/kustomization.yaml"
        for p, d in zip(
            rendered, _rendered_dirs(found.kustomize_dirs, render_problems), strict=True
        )
    }
    findings += render_problems + list(extra or [])

    by_kind = {
        "workflows": found.workflows,
        "actions": found.actions,
        "manifests": found.manifests,
        "rendered": rendered,
        "dockerfiles": found.dockerfiles,
        "secrets": found.all_files,
    }
    with tempfile.TemporaryDirectory(prefix="conveyor-scan-") as tmp:
        settings = Path(tmp) / "settings.json"
        settings.write_text(json.dumps({"allowed_registries": registries}))
        checks = checks_dir(policy_dir, Path(tmp) / "checks")
        output = checkov_run.run_checkov(
            root, sorted(set(found.all_files) | set(rendered)), checks, config, settings, checkov
        )
    if found.all_files:  # the files detect-secrets keeps out of checkov's secrets scan
        findings += skipped_secrets.scan_skipped(
            root, found.all_files, checkov or checkov_tool.find(root), config
        )
    allowed = {kind: {p.as_posix() for p in by_kind[kind]} for kind in by_kind}
    framework_files = {
        "kubernetes": allowed["manifests"] | allowed["rendered"],
        "dockerfile": allowed["dockerfiles"],
        "github_actions": allowed["workflows"],
    }
    # checkov reads every YAML it is given as Kubernetes; kustomize bases only count rendered.
    output.failed = [c for c in output.failed if _belongs(c, framework_files)]
    output.skipped = [c for c in output.skipped if _belongs(c, framework_files)]
    findings += [_at_overlay(checkov_run.to_finding(c, config), overlay_of) for c in output.failed]
    suppressed, unexplained = checkov_run.inline_skips(output)
    findings += unexplained
    for kind in CHECKED_KINDS:
        expected = allowed[kind]
        if kind in ("manifests", "rendered"):  # a Service or NetworkPolicy alone has no checks
            expected = {p for p in expected if targets.has_workload(root / p)}
        for path in sorted(expected - output.seen_files):
            findings.append(_unread(path, kind))

    own = [(w, False) for w in found.workflows] + [(a, True) for a in found.actions]
    for own_path, composite in own:
        for finding in actions.scan_file(root, own_path, config, composite):
            skip = actions.inline_skip(root, finding)
            if skip is None:
                findings.append(finding)
            elif skip[1]:
                suppressed.append(
                    Suppressed(finding.policy_id, finding.file, finding.line, skip[1], "inline")
                )
            else:
                findings.append(
                    Finding(
                        "CNV_SKIP_1",
                        "Suppression without a reason",
                        "high",
                        finding.file,
                        finding.line,
                        f"give the skip of {finding.policy_id} a reason: "
                        f"checkov:skip={finding.policy_id}:<why this is safe>",
                        source="conveyor",
                    )
                )

    scanned = {p.as_posix() for p in found.all_files}
    findings, from_baseline = suppress.apply_baseline(findings, baseline, scanned)
    listed = {kind: sorted(allowed[kind]) for kind in by_kind if allowed[kind]}
    if skipped:
        listed["excluded"] = sorted(p.as_posix() for p in skipped)
    return ScanResult(
        findings=findings,
        suppressed=suppressed + from_baseline + left_out,
        files=listed,
        checks_passed=output.passed,
        git_commit=git.head_commit(root),
    )


def _readable(
    root: Path, files: list[Path], config: ScanConfig, whole_repo: bool
) -> tuple[list[Path], list[Finding], list[Suppressed]]:
    """The files every check can read. The others are findings (CNV_SCAN_1, "not checked", with
    the reason) unless listed one by one in `unscanned:` with a reason; a listed file that is not
    there any more is a stale entry (CNV_SKIP_3)."""
    listed = {u.file: u.reason for u in config.unscanned}
    names = {f.as_posix() for f in files}
    readable, findings, left_out = [], [], []
    for f in files:
        if f.as_posix() in listed:
            left_out.append(
                Suppressed("CNV_SCAN_1", f.as_posix(), 1, listed[f.as_posix()], "config")
            )
            continue
        why = targets.unreadable(root, f, int(config.max_file_mb * 1_000_000))
        if why is None:
            readable.append(f)
            continue
        findings.append(
            Finding(
                "CNV_SCAN_1",
                f"File was not checked: {why}",
                "high",
                f.as_posix(),
                1,
                "keep data out of git (DVC), or list the file under `unscanned:` in "
                f"{CONFIG} with the reason it is safe",
                source="conveyor",
            )
        )
    # A scan of some paths only cannot tell a stale entry from one outside those paths.
    for name in sorted(set(listed) - names) if whole_repo else []:
        findings.append(
            Finding(
                "CNV_SKIP_3",
                "Stale `unscanned:` entry",
                "low",
                CONFIG,
                1,
                f"delete the `unscanned:` entry for {name}: the file is gone",
                resource=name,
                source="conveyor",
            )
        )
    return readable, findings, left_out


def _belongs(check: dict[str, Any], framework_files: dict[str, set[str]]) -> bool:
    kind = check.get("_check_type")
    return kind not in framework_files or check["_file"] in framework_files[kind]


def _unread(path: str, kind: str) -> Finding:
    what = {
        "workflows": "it is not a valid GitHub Actions workflow (checkov's schema)",
        "manifests": "checkov could not read it as Kubernetes manifests",
        "rendered": "checkov could not read the rendered manifests",
        "dockerfiles": "checkov could not read it as a Dockerfile",
    }[kind]
    return Finding(
        "CNV_PARSE_1",
        "File was not checked",
        "high",
        path,
        1,
        f"fix the file so it can be checked: {what}",
        source="conveyor",
    )


def write_outputs(result: ScanResult, out: Path) -> None:
    """scan.sarif, scan.junit.xml, scan.json and scan.md under ``out``."""
    for name, formatter in FORMATS.items():
        with atomic_path(out / name) as tmp:
            tmp.write_text(formatter.format(result), encoding="utf-8")


def terminal_lines(result: ScanResult) -> list[str]:
    """One line per finding (policy, severity, file:line, what to change), then the verdict."""
    lines = [
        f"FAIL [{f.severity}] {f.policy_id} {f.where()}: {f.title} -> {f.remedy}"
        for f in result.sorted_findings()
    ]
    files = sum(len(v) for k, v in result.files.items() if k not in ("secrets", "excluded"))
    total = len(result.files.get("secrets", []))
    excluded = len(result.files.get("excluded", []))
    verdict = "passed" if result.clean else f"FAILED ({len(result.findings)} finding(s))"
    lines.append(
        f"scan: {verdict}: {total} files ({files} workflows/actions/manifests/Dockerfiles; "
        f"{excluded} excluded from the policy checks, not from secrets), "
        f"{result.checks_passed} checks passed, {len(result.suppressed)} suppressed with a reason"
    )
    return lines


def _rendered_dirs(dirs: list[Path], problems: list[Finding]) -> list[Path]:
    """The overlays that rendered, in render order (those that did not are findings)."""
    failed = {p.file for p in problems}
    return [d for d in dirs if f"{d.as_posix()}/kustomization.yaml" not in failed]


def _at_overlay(finding: Finding, overlay_of: dict[str, str]) -> Finding:
    """A finding in a rendered overlay, moved to the overlay's kustomization.yaml (a file that
    code scanning, reviewers and the baseline can point at), naming the rendered resource."""
    overlay = overlay_of.get(finding.file)
    if overlay is None:
        return finding
    resource = f"{finding.resource} (rendered, line {finding.line} of {finding.file})"
    return dataclasses.replace(finding, file=overlay, line=1, resource=resource)
