"""Run checkov (in its own venv, see checkov_tool) offline and read its JSON."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast, get_args

from conveyor.errors import UserError
from conveyor.scan import checkov_tool
from conveyor.scan.model import Finding, Severity, Suppressed
from conveyor.scan.settings import ScanConfig
from conveyor.tools import failure_reason, run

__all__ = ["inline_skips", "run_checkov", "to_finding"]

FRAMEWORKS = ("github_actions", "kubernetes", "dockerfile", "secrets")
NO_REASON = {"", "no comment provided"}  # what checkov records for a bare `checkov:skip=ID`
# Offline and quiet: no platform mapping download, no version check. No size limit of its own
# for the secrets scan (5 MB, skipped without a word): conveyor decides which files are too large
# to read (max_file_mb) and reports them.
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "CHECKOV_MAX_FILE_SIZE": "0",
}


@dataclass
class CheckovOutput:
    """Failed and skipped checks, and which files checkov actually read."""

    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    seen_files: set[str] = field(default_factory=set)
    passed: int = 0


def _launcher(checkov: str) -> list[str]:
    """checkov started through checkov_launch.py by its own venv's python, when it has one.
    ``-I``: the launcher's folder (conveyor's scan package) is not put on sys.path, so nothing of
    conveyor's can shadow a module of checkov's, and the user's PYTHON* variables stay out."""
    python = Path(checkov).parent / "python"
    if python.is_file():
        return [str(python), "-I", str(Path(__file__).with_name("checkov_launch.py"))]
    return [checkov]


def run_checkov(
    root: Path,
    files: list[Path],
    policy_dir: Path,
    config: ScanConfig,
    settings_file: Path,
    checkov: str | None = None,
) -> CheckovOutput:
    """One checkov process over ``files`` (root-relative) with the external checks in
    ``policy_dir`` (settings.checks_dir); ``checkov`` defaults to checkov_tool.find."""
    if not files:
        return CheckovOutput()
    command = [
        *_launcher(checkov or checkov_tool.find(root)),
        "--skip-download",
        "--framework",
        *FRAMEWORKS,
        "--external-checks-dir",
        str(policy_dir.resolve()),
        "-o",
        "json",
        "--compact",
    ]
    if config.skip_checks:
        command += ["--skip-check", ",".join(s.id for s in config.skip_checks)]
    for f in files:
        command += ["-f", str(f)]
    env = {**os.environ, **OFFLINE_ENV, "CONVEYOR_SCAN_SETTINGS": str(settings_file.resolve())}
    result = run(command, cwd=root, env=env, timeout=600)
    # checkov exits 1 on findings; anything else, or a policy that failed to load, is broken.
    if result.returncode not in (0, 1) or "Cannot load external check" in result.stderr:
        raise UserError(f"checkov failed: {failure_reason(result)}")
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise UserError(f"checkov wrote no JSON report: {failure_reason(result)}") from None
    return parse(reports, root)


def _rel(check: dict[str, Any], root: Path) -> str:
    path = Path(check.get("file_abs_path") or check["file_path"].lstrip("/"))
    if path.is_absolute() and path.is_relative_to(root.resolve()):
        path = path.relative_to(root.resolve())
    return path.as_posix()


def parse(reports: Any, root: Path) -> CheckovOutput:
    """Normalise checkov's JSON (one report, or a list of one per framework)."""
    out = CheckovOutput()
    for report in reports if isinstance(reports, list) else [reports]:
        results = report.get("results") or {}
        check_type = report.get("check_type", "")
        for check in results.get("passed_checks", []):
            out.passed += 1
            out.seen_files.add(_rel(check, root))
        for kind in ("failed_checks", "skipped_checks"):
            for check in results.get(kind, []):
                check["_file"] = _rel(check, root)
                check["_check_type"] = check_type
                out.seen_files.add(check["_file"])
                (out.failed if kind == "failed_checks" else out.skipped).append(check)
    return out


def to_finding(check: dict[str, Any], config: ScanConfig) -> Finding:
    """A failed checkov check as a Finding, with our severity and remedy where we have them."""
    policy = config.policies.get(check["check_id"])
    named = policy.severity if policy else (check.get("severity") or "medium").lower()
    severity = cast("Severity", named if named in get_args(Severity) else "medium")
    # checkov names its checks as the rule to meet ("Ensure ...", "Do not admit ..."): without a
    # remedy of ours, that rule is what to change, with checkov's guideline link when it has one.
    fallback = "change the resource so that the rule above holds"
    if check.get("guideline"):
        fallback += f" ({check['guideline']})"
    remedy = policy.remedy if policy else fallback
    lines = check.get("file_line_range") or [1, 1]
    return Finding(
        policy_id=check["check_id"],
        title=check["check_name"],
        severity=severity,
        file=check["_file"],
        line=max(int(lines[0]), 1),
        remedy=remedy,
        resource=str(check.get("resource") or ""),
    )


def inline_skips(output: CheckovOutput) -> tuple[list[Suppressed], list[Finding]]:
    """Inline `checkov:skip=ID:reason` comments: reasoned ones are recorded, bare ones are
    findings of their own (CNV_SKIP_1)."""
    suppressed: dict[tuple[str, str], Suppressed] = {}
    unexplained: dict[tuple[str, str], Finding] = {}
    for check in output.skipped:
        reason = str(check.get("check_result", {}).get("suppress_comment") or "").strip()
        key = (check["check_id"], check["_file"])
        line = max(int((check.get("file_line_range") or [1])[0]), 1)
        if reason.lower() in NO_REASON:
            unexplained[key] = Finding(
                "CNV_SKIP_1",
                "Suppression without a reason",
                "high",
                check["_file"],
                line,
                f"give the skip of {check['check_id']} a reason: "
                f"checkov:skip={check['check_id']}:<why this is safe>",
                source="conveyor",
            )
        else:
            suppressed.setdefault(
                key, Suppressed(check["check_id"], check["_file"], line, reason, "inline")
            )
    return list(suppressed.values()), list(unexplained.values())
