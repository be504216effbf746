"""scan.sarif: SARIF 2.1.0 for GitHub code scanning (github/codeql-action/upload-sarif)."""

from __future__ import annotations

import json

from conveyor import __version__
from conveyor.scan.formats.interface import ScanFormat
from conveyor.scan.model import ScanResult

__all__ = ["SarifFormat"]

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub ranks alerts by this property (0-10): critical >= 9, high >= 7, medium >= 4.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.0", "low": "2.0"}


class SarifFormat(ScanFormat):
    """One run, one rule per policy id, one result per finding."""

    def format(self, result: ScanResult) -> str:
        """The SARIF log as JSON."""
        findings = result.sorted_findings()
        rule_ids = sorted({f.policy_id for f in findings})
        first = {rid: next(f for f in findings if f.policy_id == rid) for rid in rule_ids}
        rules = [
            {
                "id": rid,
                "name": rid,
                "shortDescription": {"text": first[rid].title},
                "help": {"text": first[rid].remedy},
                "defaultConfiguration": {"level": LEVEL[first[rid].severity]},
                "properties": {
                    "security-severity": SECURITY_SEVERITY[first[rid].severity],
                    "tags": ["security", first[rid].source],
                },
            }
            for rid in rule_ids
        ]
        results = [
            {
                "ruleId": f.policy_id,
                "ruleIndex": rule_ids.index(f.policy_id),
                "level": LEVEL[f.severity],
                "message": {"text": f"{f.title}: {f.remedy}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                            "region": {"startLine": f.line},
                        }
                    }
                ],
                "partialFingerprints": {"conveyor/v1": f"{f.policy_id}:{f.file}:{f.resource}"},
            }
            for f in findings
        ]
        log = {
            "$schema": SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "conveyor-scan",
                            "version": __version__,
                            "rules": rules,
                        }
                    },
                    "results": results,
                }
            ],
        }
        return json.dumps(log, indent=2) + "\n"
