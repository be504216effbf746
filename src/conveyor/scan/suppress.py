"""Reviewed suppressions: the baseline file and global skips; every one must carry a reason."""

from __future__ import annotations

from conveyor.scan.model import Finding, Suppressed
from conveyor.scan.settings import Baseline

__all__ = ["apply_baseline"]

BASELINE = "policies/checkov/baseline.yaml"


def apply_baseline(
    findings: list[Finding], baseline: Baseline, scanned: set[str]
) -> tuple[list[Finding], list[Suppressed]]:
    """Drop findings a reasoned baseline entry covers. An entry without a reason suppresses
    nothing and is a finding (CNV_SKIP_2); an entry for a scanned file that matches nothing is
    stale (CNV_SKIP_3), so the baseline only ever lists live, explained exceptions."""
    kept: list[Finding] = []
    suppressed: list[Suppressed] = []
    used: set[int] = set()
    for finding in findings:
        match = next(
            (
                i
                for i, e in enumerate(baseline.suppressions)
                if e.reason.strip()
                and e.id == finding.policy_id
                and e.file == finding.file
                and (e.resource is None or e.resource == finding.resource)
            ),
            None,
        )
        if match is None:
            kept.append(finding)
            continue
        used.add(match)
        entry = baseline.suppressions[match]
        suppressed.append(
            Suppressed(finding.policy_id, finding.file, finding.line, entry.reason, "baseline")
        )
    for i, entry in enumerate(baseline.suppressions):
        if not entry.reason.strip():
            kept.append(
                Finding(
                    "CNV_SKIP_2",
                    "Baseline entry without a reason",
                    "high",
                    BASELINE,
                    1,
                    f"give the baseline entry for {entry.id} in {entry.file} a reason, "
                    "or delete it and fix the finding",
                    resource=entry.id,
                    source="conveyor",
                )
            )
        elif i not in used and entry.file in scanned:
            kept.append(
                Finding(
                    "CNV_SKIP_3",
                    "Stale baseline entry",
                    "low",
                    BASELINE,
                    1,
                    f"delete the baseline entry for {entry.id} in {entry.file}: "
                    "it no longer matches a finding",
                    resource=entry.id,
                    source="conveyor",
                )
            )
    return kept, suppressed
